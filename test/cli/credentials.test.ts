/**
 * The credential commands end to end: a real Steward listening on an ephemeral port in this
 * process, and `steward` run as a real subprocess against it. A join token goes from
 * `identity join-token` to a file, through `token exchange`, into the inventory and introspection,
 * and dies by each way a token can die: revoked by its holder, its task completed, its identity
 * revoked. Federation exchanges a JWT signed with a key the test made, read from stdin.
 *
 * Setup the CLI is not under test for (team, service, identity) goes straight to the API; each
 * spawn costs about half a second, so independent runs go in parallel.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Command } from 'commander';
import { inferSubjectType } from '../../src/cli/commands/token.js';
import { buildProgram } from '../../src/cli/main.js';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { closedPortUrl, runCli, type CliRun } from '../support/cli.js';

const ADMIN_KEY = 'cli-credentials-admin-key-0123456789abcdef';
const TRUST_DOMAIN = 'cli.test';
const SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/sandbox/refund-agent/planner`;
const ISSUER = 'https://oidc.cluster.example.com';
const SERVICE_ACCOUNT = 'system:serviceaccount:payments:refund';

type Run = CliRun;

describe('steward credential commands against a running Steward', () => {
  let steward: RunningSteward;
  let dataDir: string;
  let downUrl: string;
  let identityId = '';

  /** Runs `steward <args>`, `input` on its stdin; `env` overrides the URL and key. */
  function cli(
    args: readonly string[],
    options: { input?: string; env?: Record<string, string> } = {},
  ): Promise<Run> {
    return runCli(args, { url: steward.url, key: ADMIN_KEY, ...options });
  }

  /** Runs a command that must succeed and print JSON; returns what it printed, parsed. */
  async function json<T>(args: readonly string[], input?: string): Promise<T> {
    const run = await cli([...args, '--json'], input === undefined ? {} : { input });
    exits(run, 0, args);
    return JSON.parse(run.stdout) as T;
  }

  function exits(run: Run, code: number, args: readonly string[] = []): void {
    assert.equal(
      run.code,
      code,
      `steward ${args.join(' ')}: exit ${String(run.code)}, stderr: ${run.stderr}`,
    );
  }

  /** A file in the test's directory, holding `content`; returns its path. */
  async function file(name: string, content: string): Promise<string> {
    const at = path.join(dataDir, name);
    await writeFile(at, content, { mode: 0o600 });
    return at;
  }

  async function api<T>(method: string, route: string, body?: unknown): Promise<T> {
    const response = await fetch(`${steward.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    assert.ok(
      response.ok,
      `${method} ${route}: ${response.status} ${await response.clone().text()}`,
    );
    return (await response.json()) as T;
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'steward-cli-credentials-'));
    const config = loadConfig({
      STEWARD_PORT: '0',
      STEWARD_DATA_DIR: dataDir,
      STEWARD_ADMIN_KEY: ADMIN_KEY,
      STEWARD_LOG_LEVEL: 'silent',
      STEWARD_TRUST_DOMAIN: TRUST_DOMAIN,
    });
    steward = await up(config, { announce: () => {} });
    downUrl = await closedPortUrl();
    await api('POST', '/v1/teams', {
      name: 'payments',
      contact: 'payments@example.com',
      escalation: '+1-555-0100',
    });
    await api('POST', '/v1/services', {
      name: 'refund-agent',
      team: 'payments',
      dataClassification: 'confidential',
    });
    const identity = await api<{ id: string }>('POST', '/v1/identities', {
      service: 'refund-agent',
      environment: 'sandbox',
      agentPath: 'planner',
    });
    identityId = identity.id;
  });

  after(async () => {
    await steward.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('takes a join token from a file to an access token, into the inventory, and revokes it', async () => {
    const join = await cli(['identity', 'join-token', identityId, '--ttl-seconds', '300']);
    exits(join, 0);
    // The token alone on stdout, so `> join.token` takes exactly it; the warning on stderr.
    assert.match(join.stdout, /^stw_join_\S+\n$/);
    assert.match(join.stderr, new RegExp(`Join token for ${SPIFFE_ID}: single use`));
    assert.match(join.stderr, /Store it now: it is shown this once/);
    const joinFile = await file('join.token', join.stdout);

    const exchanged = await cli(['token', 'exchange', '--subject-token-file', joinFile]);
    exits(exchanged, 0);
    assert.match(exchanged.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'the access token alone');
    assert.equal(exchanged.stderr, '');
    const accessToken = exchanged.stdout.trim();
    const { jti } = decodeJwt(accessToken);
    const tokenFile = await file('access.token', accessToken);

    const [introspected, listed] = await Promise.all([
      cli(['token', 'introspect', '--token-file', tokenFile]),
      cli(['token', 'list', '--identity', identityId]),
    ]);
    exits(introspected, 0);
    assert.match(introspected.stdout, /^active\s+true$/m);
    assert.match(introspected.stdout, new RegExp(`^sub\\s+${SPIFFE_ID}$`, 'm'));
    // Times shown readable in a table (the --json form keeps the numbers).
    assert.match(introspected.stdout, /^exp\s+\d{4}-\d{2}-\d{2}T/m);
    exits(listed, 0);
    assert.match(listed.stdout, /^JTI\s+SPIFFE ID\s+AUDIENCE\s+TASK\s+ATTESTATION\s+ISSUED/);
    assert.match(
      listed.stdout,
      new RegExp(`^${String(jti)}\\s+${SPIFFE_ID}\\s+steward\\s+-\\s+join_token:`, 'm'),
    );
    for (const output of [introspected.stdout, listed.stdout, listed.stderr]) {
      assert.ok(!output.includes(accessToken), 'the token itself is never shown back');
    }

    // The holder revokes it (RFC 7009), giving it on stdin rather than as a flag.
    const revoked = await cli(['token', 'revoke', '--token', '-'], { input: `${accessToken}\n` });
    exits(revoked, 0);
    assert.match(revoked.stdout, /^revoked/);

    const [afterRevoke, replayed] = await Promise.all([
      json<Record<string, unknown>>(['token', 'introspect', '--token-file', tokenFile]),
      cli(['token', 'exchange', '--subject-token-file', joinFile]),
    ]);
    assert.deepEqual(afterRevoke, { active: false });
    // A join token is single use: the OAuth error is shown, and the exit is "rejected".
    exits(replayed, 3);
    assert.match(replayed.stderr, /^error: invalid_grant: The join token was already used\.$/m);
    assert.equal(replayed.stdout, '');
    assert.ok(!replayed.stderr.includes(join.stdout.trim()), 'nor is the join token echoed');
  });

  it('binds a token to a task, and completing the task kills it', async () => {
    const [task, join, updated] = await Promise.all([
      json<{ id: string; status: string }>([
        'task',
        'open',
        '--identity',
        identityId,
        '--deadline-seconds',
        '600',
        '--description',
        'refund #4411',
      ]),
      json<{ token: string; spiffeId: string }>(['identity', 'join-token', identityId]),
      json<{ maxSessionSeconds: number }>([
        'identity',
        'update',
        identityId,
        '--max-session-seconds',
        '3600',
      ]),
    ]);
    assert.equal(updated.maxSessionSeconds, 3600);
    assert.equal(task.status, 'open');
    assert.equal(join.spiffeId, SPIFFE_ID);

    // The join token on stdin this time; --json gives the whole RFC 8693 response.
    const response = await json<{ access_token: string; token_type: string; expires_in: number }>(
      ['token', 'exchange', '--subject-token', '-', '--task', task.id, '--expires-in', '120'],
      join.token,
    );
    assert.equal(response.token_type, 'Bearer');
    assert.ok(response.expires_in <= 120);
    assert.equal(decodeJwt(response.access_token)['task'], task.id);
    const tokenFile = await file('task.token', response.access_token);

    const completed = await json<{ status: string }>(['task', 'complete', task.id]);
    assert.equal(completed.status, 'completed');
    const afterComplete = await json<{ active: boolean }>([
      'token',
      'introspect',
      '--token-file',
      tokenFile,
    ]);
    assert.equal(afterComplete.active, false);
  });

  it('lists signing keys and rotates them, the new key published beside the old', async () => {
    const before = await json<{ items: { kid: string }[] }>(['key', 'list']);
    const rotated = await json<{ kid: string; state: string }>(['key', 'rotate', '--immediate']);
    const table = await cli(['key', 'list']);
    exits(table, 0);
    assert.match(table.stdout, /^KID\s+ALG\s+STATE\s+ACTIVATES\s+RETIRES\s+UNPUBLISHES$/m);
    assert.ok(!before.items.some((key) => key.kid === rotated.kid), 'a new key');
    assert.ok(table.stdout.includes(rotated.kid));
    for (const key of before.items)
      assert.ok(table.stdout.includes(key.kid), 'the old stays published');
  });

  it('trusts an issuer with an inline JWKS, exchanges its token from stdin, and removes the trust', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'cluster-1', alg: 'ES256', use: 'sig' };
    const jwksFile = await file('jwks.json', JSON.stringify({ keys: [jwk] }));
    const trust = await json<{ name: string; jwks: unknown; conditions: unknown }>([
      'federation',
      'trust',
      'add',
      'k8s-refund',
      '--issuer',
      ISSUER,
      '--jwks-file',
      jwksFile,
      '--audience',
      'steward',
      '--condition',
      `sub=${SERVICE_ACCOUNT}`,
      '--identity',
      identityId,
    ]);
    assert.deepEqual(trust.conditions, { sub: SERVICE_ACCOUNT });
    assert.deepEqual(trust.jwks, { keys: [jwk] });

    // A Kubernetes-style projected token, signed with the key the trust holds.
    const platformToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'cluster-1' })
      .setIssuer(ISSUER)
      .setSubject(SERVICE_ACCOUNT)
      .setAudience('steward')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
    assert.equal(inferSubjectType(platformToken), 'jwt');
    const [exchanged, listed] = await Promise.all([
      cli(['token', 'exchange', '--subject-token-file', '-'], { input: platformToken }),
      cli(['federation', 'trust', 'list']),
    ]);
    exits(exchanged, 0);
    const claims = decodeJwt(exchanged.stdout.trim());
    assert.equal(claims.sub, SPIFFE_ID);
    assert.equal(inferSubjectType(exchanged.stdout.trim()), 'access-token');
    exits(listed, 0);
    assert.match(
      listed.stdout,
      new RegExp(`^k8s-refund\\s+${ISSUER}\\s+steward\\s+inline\\s`, 'm'),
    );

    const removed = await cli(['federation', 'trust', 'remove', 'k8s-refund']);
    exits(removed, 0);
    assert.match(removed.stdout, /^removed trust k8s-refund$/m);
    const refused = await cli(['token', 'exchange', '--subject-token-file', '-'], {
      input: platformToken,
    });
    exits(refused, 3);
    assert.match(
      refused.stderr,
      /^error: invalid_grant: No trust rule accepts tokens from this issuer/m,
    );

    // The operator's kill switch for the identity ends the token the federation gave.
    const tokenFile = await file('federated.token', exchanged.stdout);
    const revocation = await json<{ kind: string; entries: number }>([
      'revoke',
      '--kind',
      'identity',
      '--identity',
      identityId,
      '--reason',
      'INC-88: suspected leak',
    ]);
    assert.equal(revocation.kind, 'identity');
    const afterRevoke = await json<{ active: boolean }>([
      'token',
      'introspect',
      '--token-file',
      tokenFile,
    ]);
    assert.equal(afterRevoke.active, false);
  });

  it('refuses bad flags and missing tokens with exit 2 before any request', async () => {
    const privateJwks = await file(
      'private-jwks.json',
      JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', d: 'BBBB' }] }),
    );
    // Pointed at a Steward that is down: had a request gone out, the exit would be 7.
    const cases: [readonly string[], RegExp][] = [
      [
        ['token', 'exchange', '--audience', 'crm'],
        /the token to exchange is required: give --subject-token-file/,
      ],
      [
        ['revoke', '--kind', 'service_environment', '--service', 'refund-agent', '--reason', 'x'],
        /--kind service_environment needs --environment/,
      ],
      [
        ['identity', 'update', identityId, '--max-session-seconds', '10'],
        /--max-session-seconds must be a whole number from 300 to 604800, not "10"/,
      ],
      [
        [
          'federation',
          'trust',
          'add',
          'bad',
          '--issuer',
          ISSUER,
          '--jwks-file',
          privateJwks,
          '--audience',
          'steward',
          '--condition',
          'sub=x',
          '--identity',
          identityId,
        ],
        /--jwks-file: holds a private or symmetric key/,
      ],
    ];
    const runs = await Promise.all(
      cases.map(([args]) => cli(args, { env: { STEWARD_URL: downUrl } })),
    );
    runs.forEach((run, i) => {
      const [args, message] = cases[i] ?? [[], /./];
      exits(run, 2, args);
      assert.match(run.stderr, /^error: /);
      assert.match(run.stderr, message);
    });
  });

  it('explains every credential command in --help, with an example of that very command', () => {
    // In-process: --help needs no server, and a spawn per verb would cost seconds.
    const program = buildProgram();
    const nouns = ['token', 'task', 'revoke', 'federation', 'key'];
    const commands: Command[] = [];
    const walk = (command: Command): void => {
      commands.push(command);
      command.commands.forEach(walk);
    };
    for (const noun of nouns) walk(program.commands.find((c) => c.name() === noun) as Command);
    walk(
      program.commands
        .find((c) => c.name() === 'identity')
        ?.commands.find((c) => c.name() === 'join-token') as Command,
    );
    assert.ok(commands.length >= 17);
    for (const command of commands) {
      let help = '';
      command.configureOutput({ writeOut: (text) => (help += text) });
      command.outputHelp();
      const words: string[] = [];
      for (let at: Command | null = command; at?.parent; at = at.parent) words.unshift(at.name());
      assert.match(help, /\nExamples:\n/, words.join(' '));
      assert.ok(help.includes(`steward ${words.join(' ')}`), `an example of ${words.join(' ')}`);
    }
  });
});
