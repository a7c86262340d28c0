/**
 * token-verify: Steward's access-token verifier, cached and uncached, against jose's `jwtVerify`
 * with a local key set, on the same tokens with the same checks, in the same run.
 *
 * - Cached: the core's verifier over 1,000 distinct tokens, cycled; all are in its cache after the
 *   first pass, so a call is a cache hit that still checks the key, expiry, audience and
 *   revocation (the cache skips only the parsing and the signature).
 * - Uncached: a verifier of its own that is given a token it has never seen on every call (one
 *   distinct token per call, warm-up included), so every call parses and checks the signature.
 * - jose: `jwtVerify(token, createLocalJWKSet(core.keyring.jwks()), …)` over the same distinct
 *   tokens as the uncached case, call for call, requiring the same issuer, audience, `typ`
 *   (`at+jwt`), algorithm, the same 30 s clock tolerance and the registered claims Steward needs.
 *
 * No database in the hot path: the keyring needs a store to make its key, and the tokens are
 * issued by the real minter, so a SQLite store in a temporary directory is used whatever `--db`
 * says; the results go to `token-verify.json`.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import {
  createMinter,
  createTokenVerifier,
  LEEWAY_SECONDS,
  STEWARD_AUDIENCE,
  TokenError,
  type MintRequest,
} from '../../src/tokens/index.js';
import { benchWorkload, signingBenchCore } from '../harness/core.js';
import { storeFactory } from '../harness/databases.js';
import { measureInterleaved } from '../harness/measure.js';
import type { Scenario } from '../harness/scenario.js';

const CACHED = 'Steward verify, cached';
const UNCACHED = 'Steward verify, uncached';
const JOSE = 'jose jwtVerify';

/** Tokens the cached case cycles through. */
const HOT_TOKENS = 1_000;
/** Tokens minted per transaction while preparing (the minter writes their inventory rows). */
const MINT_BATCH = 1_000;

export const tokenVerify: Scenario = {
  name: 'token-verify',
  summary: 'access-token verification, cached and uncached, vs jose jwtVerify on the same tokens',
  usesDatabase: false,
  async run(context) {
    const stores = storeFactory('sqlite');
    try {
      const store = await stores.open();
      const core = await signingBenchCore(store);
      const subject = await benchWorkload(core);
      const { mint } = createMinter({
        keyring: core.keyring,
        clock: core.clock,
        issuer: core.issuer,
      });
      const request: MintRequest = {
        subject,
        audience: STEWARD_AUDIENCE,
        attestation: 'bench',
        ttlSeconds: subject.maxTokenTtlSeconds,
      };

      const iterations = context.iterations(10_000);
      const warmup = Math.max(100, Math.round(iterations / 10));
      // One token per uncached and jose call (warm-up included), plus the cached case's set.
      const fresh = warmup + iterations;
      const started = performance.now();
      const tokens: string[] = [];
      while (tokens.length < fresh + HOT_TOKENS) {
        const batch = Math.min(MINT_BATCH, fresh + HOT_TOKENS - tokens.length);
        await store.db.transaction().execute(async (trx) => {
          for (let i = 0; i < batch; i++)
            tokens.push((await mint(trx, { actor: SYSTEM_ACTOR }, request)).token);
        });
      }
      const mintSeconds = (performance.now() - started) / 1000;
      context.log(`${tokens.length} tokens minted in ${mintSeconds.toFixed(1)} s`);
      const distinct = tokens.slice(0, fresh);
      const hot = tokens.slice(fresh);
      if (new Set(tokens).size !== tokens.length) throw new Error('minted tokens repeat');

      const cached = core.verifier;
      const uncached = createTokenVerifier({
        keyring: core.keyring,
        revocations: core.revocations,
        clock: core.clock,
        issuer: core.issuer,
      });
      const jwks = createLocalJWKSet(core.keyring.jwks());
      const joseOptions = {
        issuer: core.issuer,
        audience: STEWARD_AUDIENCE,
        typ: 'at+jwt',
        algorithms: ['EdDSA'],
        clockTolerance: LEEWAY_SECONDS,
        requiredClaims: ['sub', 'jti', 'exp', 'iat', 'nbf'],
      };
      const at = (list: readonly string[], call: number): string => {
        const token = list[call];
        if (token === undefined) throw new RangeError(`no token for call ${call}`);
        return token;
      };

      // Both sides must accept the same tokens and refuse the same forgery, or they would be
      // doing different work. (Checked on tokens the measured cases do not use.)
      const probe = at(hot, 0);
      const verified = cached.verify(probe, STEWARD_AUDIENCE);
      const { payload } = await jwtVerify(probe, jwks, joseOptions);
      if (payload.jti !== verified.claims.jti) throw new Error('jose and Steward disagree');
      const forged = `${probe.slice(0, -4)}${probe.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      let stewardRefused = false;
      try {
        createTokenVerifier({
          keyring: core.keyring,
          revocations: core.revocations,
          clock: core.clock,
          issuer: core.issuer,
        }).verify(forged, STEWARD_AUDIENCE);
      } catch (error) {
        stewardRefused = error instanceof TokenError;
      }
      const joseRefused = await jwtVerify(forged, jwks, joseOptions).then(
        () => false,
        () => true,
      );
      if (!stewardRefused || !joseRefused) throw new Error('a forged token was accepted');
      // Every hot token in the cache before the first call, so the cached case only ever hits.
      for (const token of hot) cached.verify(token, STEWARD_AUDIENCE);

      context.log(`${warmup} warm-up + ${iterations} measured calls per case, interleaved`);
      const measurements = await measureInterleaved(
        [
          {
            label: CACHED,
            run: async (call) => cached.verify(at(hot, call % HOT_TOKENS), STEWARD_AUDIENCE),
          },
          {
            label: UNCACHED,
            run: async (call) => uncached.verify(at(distinct, call), STEWARD_AUDIENCE),
          },
          { label: JOSE, run: (call) => jwtVerify(at(distinct, call), jwks, joseOptions) },
        ],
        { warmup, iterations, onProgress: (done) => context.log(`${Math.round(done * 100)}%`) },
      );
      await core.stop();

      return {
        measurements,
        comparisons: [
          { subject: CACHED, baseline: JOSE },
          { subject: UNCACHED, baseline: JOSE },
          { subject: CACHED, baseline: UNCACHED },
        ],
        details: {
          algorithm: core.keyring.current().alg,
          tokenBytes: probe.length,
          cachedDistinctTokens: HOT_TOKENS,
          uncachedDistinctTokens: fresh,
          cachedVerifierEntries: cached.cacheSize(),
          revocationEntries: core.revocations.size(),
          concurrency: 1,
        },
      };
    } finally {
      await stores.disposeAll();
    }
  },
};
