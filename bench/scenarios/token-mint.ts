/**
 * token-mint: access tokens issued per second through the token service's code path, against a
 * raw Ed25519 `crypto.sign` over the same payloads, on the same database in the same run.
 *
 * Subject: the minter the token exchange uses (`createMinter`), in a transaction of its own, as
 * the exchange runs it for a renewal: it builds the claims, signs them with the keyring's current
 * key, inserts the inventory row, stamps the identity's `last_used_at` and appends the
 * `token.issued` audit event. It is measured on its own rather than through the exchange because
 * the exchange's other work (verifying the presented token, loading the parent row and the
 * subject) is attestation, not issuance, and differs per grant (a join token is redeemed, a
 * federated token checked against a remote JWKS). The full renewal is measured too, as a contrast.
 *
 * Baseline: `crypto.sign(null, …)` with the same Ed25519 key over the same claims (JSON,
 * base64url, the same header), nothing else. Goal: the subject sustains at least half the
 * baseline's rate. The database write dominates the subject, so two cases in between show where
 * the time goes: Steward's signing path alone (claims, `base64urlJson`, `signInput`, the calls
 * mint.ts makes before it writes) and the whole minter over a Kysely `DummyDriver` (every query
 * built and compiled for this dialect, none sent).
 */
import { sign } from 'node:crypto';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { ChangeContext } from '../../src/actors/index.js';
import { newId } from '../../src/shared/ids.js';
import { base64urlJson, signInput } from '../../src/signing/index.js';
import type { Database, Store } from '../../src/store/index.js';
import {
  ACCESS_TOKEN_TYPE,
  createMinter,
  createTokenIssuer,
  STEWARD_AUDIENCE,
  TOKEN_EXCHANGE_GRANT,
  type AccessTokenClaims,
  type MintRequest,
} from '../../src/tokens/index.js';
import { benchWorkload, signingBenchCore } from '../harness/core.js';
import { measureInterleaved } from '../harness/measure.js';
import type { Scenario } from '../harness/scenario.js';

const RAW = 'raw crypto.sign';
const SIGN = 'Steward sign + encode';
const MINT_NO_IO = 'minter, no I/O (DummyDriver)';
const MINT = 'minter + inventory write, 1 tx';
const EXCHANGE = 'exchange (renewal)';
/** Concurrent issuance: one call of these cases is a batch of CONCURRENCY tokens. */
const CONCURRENCY = 128;
const ISSUE_CONCURRENT = `${CONCURRENCY} concurrent issues, group commit`;
const RAW_BATCH = `${CONCURRENCY} raw crypto.sign`;

/** Distinct claim sets the baseline cycles through: payloads of tokens the minter issued. */
const PAYLOADS = 1_000;
const TTL_SECONDS = 300;

/** A Kysely that builds and compiles queries for the store's dialect and sends none. */
function noIoDatabase(store: Store): Kysely<Database> {
  const postgres = store.dialect === 'postgres';
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => (postgres ? new PostgresAdapter() : new SqliteAdapter()),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) =>
        postgres ? new PostgresIntrospector(db) : new SqliteIntrospector(db),
      createQueryCompiler: () =>
        postgres ? new PostgresQueryCompiler() : new SqliteQueryCompiler(),
    },
  });
}

export const tokenMint: Scenario = {
  name: 'token-mint',
  summary:
    'access tokens issued with their records (inventory row + audit event) vs raw Ed25519 crypto.sign: concurrent with group commit, and one at a time',
  usesDatabase: true,
  async run(context) {
    const store = await context.openStore();
    const core = await signingBenchCore(store);
    const subject = await benchWorkload(core);
    // The minter the core wires into the exchange, with the same dependencies.
    const minter = createMinter({ keyring: core.keyring, clock: core.clock, issuer: core.issuer });
    const { mint } = minter;
    // The issuer the exchange uses for renewals and federation: group commit of the records.
    const issuer = createTokenIssuer({ db: store.db, minter });
    // The workload itself is the actor of its own token, as in the exchange.
    const workload: ChangeContext = {
      actor: { ref: `workload:${subject.id}`, role: 'workload', identityId: subject.id },
    };
    const request: MintRequest = {
      subject,
      audience: STEWARD_AUDIENCE,
      attestation: 'renewal',
      ttlSeconds: TTL_SECONDS,
    };

    // The root of the renewal chain, and the payloads the baseline signs.
    const root = await store.db.transaction().execute((trx) => mint(trx, workload, request));
    const payloads: AccessTokenClaims[] = [];
    await store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < PAYLOADS; i++) payloads.push((await mint(trx, workload, request)).claims);
    });
    const key = core.keyring.current();
    if (key.alg !== 'EdDSA') throw new Error(`the bench signs with EdDSA, not ${key.alg}`);

    const rawSign = (call: number): string => {
      const claims = payloads[call % PAYLOADS];
      const input = `${key.encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString('base64url')}`;
    };

    // What mint.ts does before its first write, with the same functions, in the same order.
    const stewardSign = (): string => {
      const nowMs = core.clock.now();
      const now = Math.floor(nowMs / 1000);
      const jti = newId(nowMs);
      const sessionExpiresMs = nowMs + subject.maxSessionSeconds * 1000;
      let exp = now + Math.min(TTL_SECONDS, subject.maxTokenTtlSeconds);
      exp = Math.min(exp, Math.floor(sessionExpiresMs / 1000));
      const claims: AccessTokenClaims = {
        iss: core.issuer,
        sub: subject.spiffeId,
        aud: STEWARD_AUDIENCE,
        exp,
        iat: now,
        nbf: now,
        jti,
        client_id: subject.id,
        sid: jti,
        environment: subject.environment,
        service: subject.service,
        agent_path: subject.agentPath,
      };
      const current = core.keyring.current();
      const signingInput = `${current.encodedHeader}.${base64urlJson(claims)}`;
      return `${signingInput}.${signInput(current.alg, current.privateKey, signingInput)}`;
    };

    const noIo = noIoDatabase(store);
    // The same check for every path: each issues a token Steward's own verifier accepts.
    const noIoToken = await noIo.transaction().execute((trx) => mint(trx, workload, request));
    for (const token of [rawSign(0), stewardSign(), root.token, noIoToken.token]) {
      core.verifier.verify(token, STEWARD_AUDIENCE);
    }

    // Each renewal presents the token the previous one issued, as an agent renewing does.
    let latest = root.token;
    const renew = async () => {
      const response = await core.exchange(
        {
          grant_type: TOKEN_EXCHANGE_GRANT,
          subject_token: latest,
          subject_token_type: ACCESS_TOKEN_TYPE,
        },
        undefined,
      );
      latest = response.access_token;
    };

    const iterations = context.iterations(10_000);
    const warmup = Math.max(100, Math.round(iterations / 10));
    context.log(`${warmup} warm-up + ${iterations} measured calls per case, interleaved`);
    // The order matters on PostgreSQL: the tail of a database call (the pool taking the
    // connection back, the socket's last reads) runs during whatever call comes next. Each of the
    // two pure signing cases therefore follows a database case, so that both pay it alike.
    const measurements = await measureInterleaved(
      [
        {
          label: MINT,
          run: () => store.db.transaction().execute((trx) => mint(trx, workload, request)),
        },
        { label: RAW, run: async (call) => rawSign(call) },
        { label: EXCHANGE, run: renew },
        { label: SIGN, run: async () => stewardSign() },
        {
          label: MINT_NO_IO,
          run: () => noIo.transaction().execute((trx) => mint(trx, workload, request)),
        },
        {
          // Many agents renewing at once, as a token service under load sees them: each token
          // is still returned only after its records commit, but they share transactions.
          label: ISSUE_CONCURRENT,
          iterations: Math.max(50, Math.round(iterations / 20)),
          warmup: 20,
          run: () =>
            Promise.all(Array.from({ length: CONCURRENCY }, () => issuer.issue(workload, request))),
        },
        {
          label: RAW_BATCH,
          iterations: Math.max(50, Math.round(iterations / 20)),
          warmup: 20,
          run: async (call) => {
            for (let i = 0; i < CONCURRENCY; i++) rawSign(call * CONCURRENCY + i);
          },
        },
      ],
      { warmup, iterations, onProgress: (done) => context.log(`${Math.round(done * 100)}%`) },
    );
    await core.stop();

    const { count } = await store.db
      .selectFrom('tokens')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    const half = (what: string) =>
      ({ metric: 'throughput', atLeast: 0.5, text: `${what} at least 50% of raw` }) as const;
    return {
      measurements,
      comparisons: [
        {
          subject: ISSUE_CONCURRENT,
          baseline: RAW_BATCH,
          goal: half('issuing with the inventory write (concurrent, group commit)'),
        },
        { subject: MINT, baseline: RAW },
        { subject: SIGN, baseline: RAW, goal: half('signing path alone') },
        { subject: MINT_NO_IO, baseline: RAW },
        { subject: EXCHANGE, baseline: RAW },
        { subject: MINT, baseline: MINT_NO_IO },
      ],
      details: {
        algorithm: key.alg,
        tokenBytes: root.token.length,
        claimsJsonBytes: JSON.stringify(root.claims).length,
        distinctBaselinePayloads: PAYLOADS,
        tokensAtEnd: count,
        concurrencyOfGroupCommitCases: CONCURRENCY,
      },
    };
  },
};
