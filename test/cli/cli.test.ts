/**
 * The admin CLI end to end: a real Steward listening on an ephemeral port in this process, and
 * `steward` run as a real subprocess against it, as a script or a person would run it. What is
 * checked is what callers rely on: the output (tables, `--json`), the exit codes, the messages
 * for bad flags, and that a key's secret is shown once only.
 *
 * Each spawn costs about half a second (tsx), so independent runs go in parallel.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { closedPortUrl, runCli, type CliRun } from '../support/cli.js';

const ADMIN_KEY = 'cli-test-admin-key-0123456789abcdefghij';
const TRUST_DOMAIN = 'cli.test';

type Run = CliRun;

describe('steward CLI against a running Steward', () => {
  let steward: RunningSteward;
  let dataDir: string;
  let downUrl: string;

  /** Runs `steward <args>`; `env` overrides the URL and key (undefined removes one). */
  function cli(
    args: readonly string[],
    env: Record<string, string | undefined> = {},
  ): Promise<Run> {
    return runCli(args, { url: steward.url, key: ADMIN_KEY, env });
  }

  /** Runs a command that must succeed and print JSON; returns what it printed, parsed. */
  async function json<T>(args: readonly string[], env?: Record<string, string>): Promise<T> {
    const run = await cli([...args, '--json'], env);
    assert.equal(run.code, 0, `steward ${args.join(' ')} failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as T;
  }

  /** Asserts a run's exit code, showing its stderr when it is not the one expected. */
  function exits(run: Run, code: number): void {
    assert.equal(run.code, code, `exit ${String(run.code)}, stderr: ${run.stderr}`);
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'steward-cli-'));
    const config = loadConfig({
      STEWARD_PORT: '0',
      STEWARD_DATA_DIR: dataDir,
      STEWARD_ADMIN_KEY: ADMIN_KEY,
      STEWARD_LOG_LEVEL: 'silent',
      STEWARD_TRUST_DOMAIN: TRUST_DOMAIN,
    });
    steward = await up(config, { announce: () => {} });
    downUrl = await closedPortUrl();
  });

  after(async () => {
    await steward.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  // Filled in by the newcomer flow; later tests build on what it made.
  let identityId = '';

  it('walks a newcomer from a team to an identity, and the trail shows the three changes', async () => {
    const team = await cli([
      'team',
      'create',
      'payments',
      '--contact',
      'payments@example.com',
      '--escalation',
      '+1-555-0100',
    ]);
    exits(team, 0);
    assert.match(team.stdout, /^name\s+payments$/m);

    const service = await json<{ name: string; team: string; admittedEnvironments: string[] }>([
      'service',
      'create',
      'refund-agent',
      '--team',
      'payments',
      '--data-classification',
      'confidential',
    ]);
    assert.equal(service.team, 'payments');
    assert.deepEqual(service.admittedEnvironments, ['sandbox']);

    const identity = await json<{ id: string; spiffeId: string; status: string }>([
      'identity',
      'create',
      '--service',
      'refund-agent',
      '--environment',
      'sandbox',
      '--agent-path',
      'planner',
    ]);
    assert.equal(identity.spiffeId, `spiffe://${TRUST_DOMAIN}/sandbox/refund-agent/planner`);
    assert.equal(identity.status, 'active');
    identityId = identity.id;

    const [trail, table] = await Promise.all([
      json<{ items: { type: string; actor: string }[] }>(['audit', 'list', '--order', 'asc']),
      cli(['audit', 'list', '--service', 'refund-agent']),
    ]);
    // The bootstrap key's own creation comes first; the newcomer's three changes follow.
    const changes = trail.items.filter((event) => !event.type.startsWith('apikey.'));
    assert.deepEqual(
      changes.map((event) => event.type),
      ['team.created', 'service.created', 'identity.created'],
    );
    assert.ok(changes.every((event) => event.actor.startsWith('apikey:')));
    exits(table, 0);
    assert.match(table.stdout, /^TIME\s+TYPE\s+ACTOR\s+TARGET/);
    assert.match(table.stdout, new RegExp(`identity\\.created .*identity:${identityId}`));
    assert.doesNotMatch(table.stdout, /team\.created/, '--service filters the trail');
  });

  it('prints with --json exactly the record the API holds, and a table of the useful columns', async () => {
    const [fromCli, list, fromApi] = await Promise.all([
      json<unknown>(['identity', 'get', identityId]),
      cli(['identity', 'list', '--service', 'refund-agent']),
      fetch(`${steward.url}/v1/identities/${identityId}`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      }).then((response) => response.json()),
    ]);
    assert.deepEqual(fromCli, fromApi);
    exits(list, 0);
    const [header, row, ...rest] = list.stdout.trimEnd().split('\n');
    assert.match(header ?? '', /^ID\s+SPIFFE ID\s+STATUS\s+MAX TTL\s+LAST USED$/);
    assert.match(
      row ?? '',
      new RegExp(`^${identityId}\\s+spiffe://${TRUST_DOMAIN}/\\S+\\s+active`),
    );
    assert.deepEqual(rest, []);
  });

  it('adds a person and changes an identity only with a reason, which the trail keeps', async () => {
    const [person, disabled] = await Promise.all([
      json<{ team: string; active: boolean }>([
        'person',
        'add',
        '--name',
        'Ada Lovelace',
        '--email',
        'ada@example.com',
        '--team',
        'payments',
        '--inactive',
      ]),
      json<{ status: string; statusReason: string }>([
        'identity',
        'disable',
        identityId,
        '--reason',
        'suspected leak, INC-88',
      ]),
    ]);
    assert.deepEqual([person.team, person.active], ['payments', false]);
    assert.deepEqual(
      [disabled.status, disabled.statusReason],
      ['disabled', 'suspected leak, INC-88'],
    );
  });

  it('admits a service to pilot, after which a pilot identity can be created', async () => {
    const admitted = await json<{ admittedEnvironments: string[] }>([
      'service',
      'admit',
      'refund-agent',
      '--environment',
      'pilot',
      '--reason',
      'pilot approved, CHG-1234',
    ]);
    assert.deepEqual(admitted.admittedEnvironments, ['sandbox', 'pilot']);
    const pilot = await json<{ environment: string; maxTokenTtlSeconds: number }>([
      'identity',
      'create',
      '--service',
      'refund-agent',
      '--environment',
      'pilot',
      '--agent-path',
      'planner/search',
      '--max-token-ttl-seconds',
      '600',
    ]);
    assert.deepEqual([pilot.environment, pilot.maxTokenTtlSeconds], ['pilot', 600]);
  });

  it('exits with codes scripts can trust: 2 no key, 4 wrong key, 5 not found, 6 conflict, 7 down', async () => {
    const [noKey, wrongKey, notFound, conflict, down] = await Promise.all([
      cli(['team', 'list'], { STEWARD_ADMIN_KEY: undefined }),
      cli(['team', 'list'], { STEWARD_ADMIN_KEY: 'stw_key_not-a-real-key-at-all-00000000' }),
      cli(['team', 'get', 'no-such-team']),
      cli(['team', 'create', 'payments', '--contact', 'x@example.com', '--escalation', 'x']),
      cli(['team', 'list'], { STEWARD_URL: downUrl }),
    ]);
    exits(noKey, 2);
    assert.match(noKey.stderr, /STEWARD_ADMIN_KEY is not set/);
    exits(wrongKey, 4);
    assert.match(wrongKey.stderr, /^error: unauthenticated: /m);
    exits(notFound, 5);
    assert.match(notFound.stderr, /^error: not_found: .*no-such-team/m);
    exits(conflict, 6);
    assert.match(conflict.stderr, /^error: team_exists: /m);
    exits(down, 7);
    assert.match(down.stderr, /^error: cannot reach Steward at /m);
  });

  it('refuses a bad flag with exit 2, naming the flag and why, before any request', async () => {
    // Pointed at a Steward that is down: had a request gone out, the exit would be 7.
    const down = { STEWARD_URL: downUrl };
    const cases: [readonly string[], RegExp][] = [
      [
        ['identity', 'create', '--service', 'a', '--environment', 'bogus', '--agent-path', 'p'],
        /option '--environment <environment>' argument 'bogus' is invalid\. Allowed choices are sandbox, pilot, production/,
      ],
      [
        ['audit', 'list', '--limit', 'abc'],
        /--limit must be a whole number from 1 to 500, not "abc"/,
      ],
      [
        ['apikey', 'create', '--name', 'ci', '--role', 'auditor', '--ttl-seconds', '-1'],
        /--ttl-seconds must be a whole number from 60 to \d+, not "-1"/,
      ],
      [
        ['identity', 'create', '--service', 'a', '--environment', 'sandbox'],
        /required option '--agent-path <path>' not specified/,
      ],
      [
        ['identity', 'decommission', '0f8e7c52-3a9b-4c1d-8e2f-6b5a4d3c2b1a'],
        /required option '--reason <text>' not specified/,
      ],
      [['team', 'update', 'payments'], /nothing to change: give at least one of --contact/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args, down)));
    runs.forEach((run, i) => {
      const [args, message] = cases[i] ?? [[], /./];
      assert.equal(run.code, 2, `steward ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^error: /);
      assert.match(run.stderr, message);
    });
  });

  it('explains every noun in --help, with an example, and exits 0', async () => {
    const nouns = ['team', 'person', 'service', 'identity', 'apikey', 'audit'];
    const runs = await Promise.all(nouns.map((noun) => cli([noun, '--help'])));
    runs.forEach((run, i) => {
      const noun = nouns[i] ?? '';
      exits(run, 0);
      assert.match(run.stdout, new RegExp(`^Usage: steward ${noun} `));
      assert.match(run.stdout, new RegExp(`Examples:\\n  steward ${noun} \\w+`));
    });
  });

  it('shows an API key secret once, at creation, and never in a list', async () => {
    const created = await cli(['apikey', 'create', '--name', 'audit bot', '--role', 'auditor']);
    exits(created, 0);
    const secret = /^key\s+(\S+)$/m.exec(created.stdout)?.[1] ?? '';
    assert.match(secret, /^stw_key_/);
    assert.match(created.stderr, /Store the key now: it is shown this once/);
    const keyId = /^id\s+(\S+)$/m.exec(created.stdout)?.[1] ?? '';

    const [table, listed, whoami] = await Promise.all([
      cli(['apikey', 'list']),
      cli(['apikey', 'list', '--json']),
      json<{ actor: string; role: string }>(['whoami'], { STEWARD_ADMIN_KEY: secret }),
    ]);
    exits(table, 0);
    exits(listed, 0);
    assert.match(table.stdout, /audit bot\s+auditor/);
    for (const output of [table.stdout, table.stderr, listed.stdout]) {
      assert.ok(!output.includes(secret), 'the secret must not be listed');
      assert.ok(!output.includes(ADMIN_KEY), 'nor the bootstrap key');
    }
    assert.deepEqual(whoami, { actor: `apikey:${keyId}`, role: 'auditor', team: null });

    const revoked = await json<{ status: string }>(['apikey', 'revoke', keyId]);
    assert.equal(revoked.status, 'revoked');
  });
});
