/**
 * token: Steward's token renewal (`POST /oauth2/token`, token exchange of an access token, as the
 * token-mint scenario renews) against node-oidc-provider 9 (`oidc-server.ts`: `client_credentials`
 * with `private_key_jwt`, EdDSA JWT access tokens through resource indicators, a persistent
 * SQLite adapter), Steward on SQLite and, when given, PostgreSQL, all measured side by side.
 *
 * Equal work per request, on both sides: one EdDSA JWT that no request presented before is
 * verified, one EdDSA JWT access token is signed, and one durable write is made.
 * - Steward: the renewal presents the access token an earlier renewal issued (the generator keeps
 *   a pool of them: each answer's token is presented next), so no verification is served from a
 *   cache of tokens already seen; the write is the new token's inventory row and its audit event,
 *   in one transaction (group commit).
 * - oidc-provider: the client assertion is freshly signed with a unique `jti` (it must be: the
 *   provider refuses a replayed `jti`), by the generator before each run (outside the
 *   measurement, so that signing does not load the generator); the write is the replay-detection
 *   row of that `jti`. The access token itself is a JWT and not stored.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadTarget } from '../../harness/load.js';
import type { PeerCase } from '../case.js';
import {
  CLOSED_CONNECTIONS,
  measureSideBySide,
  OPEN_MAX_IN_FLIGHT,
  type PeerTarget,
} from '../measure.js';
import type { OidcReady } from '../oidc-server.js';
import { stopChild } from '../processes.js';
import { startSteward, type BenchSteward } from '../steward.js';

export const TOKEN_RATE = 100;
/** Distinct tokens each Steward target starts its pool with: more than ever outstanding. */
const POOL = Math.max(...CLOSED_CONNECTIONS, OPEN_MAX_IN_FLIGHT) + 16;
/** Assertions signed before each oidc-provider run, per second of the run. */
const PRESIGN_PER_SECOND = 2_500;

const OIDC_CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'oidc-server.ts');
const FORM = 'application/x-www-form-urlencoded';

/** A workload and {@link POOL} access tokens of one session, got as an agent gets them. */
async function renewalTokens(steward: BenchSteward): Promise<string[]> {
  const { admin, server } = steward;
  await admin('POST', '/v1/teams', {
    name: 'bench',
    contact: 'bench@example.com',
    escalation: '+1-555-0100',
  });
  await admin('POST', '/v1/services', {
    name: 'bench-agent',
    team: 'bench',
    dataClassification: 'internal',
  });
  const { id } = await admin<{ id: string }>('POST', '/v1/identities', {
    service: 'bench-agent',
    environment: 'sandbox',
    agentPath: 'worker',
  });
  const { token: join } = await admin<{ token: string }>(
    'POST',
    `/v1/identities/${id}/join-tokens`,
    { ttlSeconds: 600 },
  );
  const exchange = async (form: Record<string, string>): Promise<string> => {
    const response = await server.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': FORM },
      payload: new URLSearchParams(form).toString(),
    });
    if (response.statusCode !== 200) throw new Error(`token exchange: ${response.body}`);
    return response.json<{ access_token: string }>().access_token;
  };
  const root = await exchange({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: join,
    subject_token_type: 'urn:steward:token-type:join-token',
  });
  const tokens: string[] = [];
  for (let i = 0; i < POOL; i++) {
    tokens.push(
      await exchange({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: root,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      }),
    );
  }
  return tokens;
}

async function startOidc(
  publicJwk: object,
  dbFile: string,
): Promise<{ child: ChildProcess; ready: OidcReady }> {
  const child = fork(OIDC_CHILD, [], {
    env: {
      ...process.env,
      BENCH_OIDC_CLIENT_JWK: JSON.stringify(publicJwk),
      BENCH_OIDC_DB: dbFile,
      // It warns once that Node.js 20 is not its supported runtime; it runs.
      NODE_NO_WARNINGS: '1',
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const ready = await new Promise<OidcReady>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`oidc-provider exited (${String(code)})`)));
    child.once('message', (message: OidcReady) => resolve(message));
  });
  child.removeAllListeners('exit');
  return { child, ready };
}

/**
 * Before measuring: oidc-provider issues an EdDSA JWT access token for the resource to a
 * client whose fresh assertion verifies, and refuses the same assertion a second time.
 */
async function checkOidc(ready: OidcReady, kid: string, key: KeyObject): Promise<void> {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid })}.${b64({
    iss: ready.clientId,
    sub: ready.clientId,
    aud: ready.url,
    jti: randomUUID(),
    iat: now,
    exp: now + 60,
  })}`;
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: ready.clientId,
    scope: 'api',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`,
  }).toString();
  const post = () =>
    fetch(ready.tokenEndpoint, { method: 'POST', headers: { 'content-type': FORM }, body });
  const first = await post();
  const answer = (await first.json()) as { access_token?: string };
  const header = JSON.parse(
    Buffer.from(answer.access_token?.split('.')[0] ?? '', 'base64url').toString() || '{}',
  ) as { alg?: string; typ?: string };
  if (first.status !== 200 || header.alg !== 'EdDSA' || header.typ !== 'at+jwt') {
    throw new Error(`oidc-provider: ${first.status} ${JSON.stringify(answer)}`);
  }
  const replay = await post();
  await replay.arrayBuffer();
  if (replay.status === 200) throw new Error('oidc-provider accepted a replayed client assertion');
}

export const tokenCase: PeerCase = {
  name: 'token',
  summary:
    'token renewal (/oauth2/token) vs node-oidc-provider (private_key_jwt, EdDSA JWT access tokens, SQLite adapter)',
  async run(context) {
    const stewards: BenchSteward[] = [];
    let oidc: ChildProcess | undefined;
    const dir = mkdtempSync(path.join(tmpdir(), 'steward-bench-oidc-'));
    try {
      const targets: PeerTarget[] = [];
      for (const database of context.databases) {
        const steward = await startSteward(database);
        stewards.push(steward);
        const tokens = await renewalTokens(steward);
        targets.push({
          label: `Steward (${database})`,
          cpu: 'self',
          target: {
            kind: 'http',
            url: `${steward.url}/oauth2/token`,
            method: 'POST',
            headers: [{}],
            body: { type: 'renewal', tokens },
          },
        });
      }
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const kid = 'bench-client-1';
      const started = await startOidc(
        { ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' },
        path.join(dir, 'oidc.db'),
      );
      oidc = started.child;
      const { ready } = started;
      const oidcTarget: LoadTarget = {
        kind: 'http',
        url: ready.tokenEndpoint,
        method: 'POST',
        headers: [{}],
        body: {
          type: 'client-assertion',
          form: { grant_type: 'client_credentials', client_id: ready.clientId, scope: 'api' },
          clientId: ready.clientId,
          audience: ready.url,
          kid,
          privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
          presign: Math.ceil(
            Math.max(
              PRESIGN_PER_SECOND * context.timing.closedSeconds,
              TOKEN_RATE * context.timing.openSeconds,
            ) * 1.1,
          ),
        },
      };
      await checkOidc(ready, kid, privateKey);
      const peerLabel = 'node-oidc-provider (sqlite)';
      targets.push({ label: peerLabel, cpu: { pid: oidc.pid ?? -1 }, target: oidcTarget });
      context.detail('equalWork', 'each request presents a JWT never presented before (fresh)');
      const figures = await measureSideBySide(context.generator, targets, {
        ...context.timing,
        rate: TOKEN_RATE,
        log: context.log,
      });
      const peer = figures.get(peerLabel);
      if (peer === undefined) throw new Error('no oidc-provider figures');
      for (const database of context.databases) {
        const label = `Steward (${database})`;
        const steward = figures.get(label);
        if (steward === undefined) throw new Error(`no ${label} figures`);
        context.record({
          case: 'token',
          variant: database,
          steward: { label, figures: steward },
          peer: { label: peerLabel, figures: peer },
        });
      }
    } finally {
      if (oidc !== undefined) await stopChild(oidc);
      for (const steward of stewards) await steward.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
