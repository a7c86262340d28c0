/**
 * The Steward core as the server wires it, over a bench store: one place to follow when
 * `createCore` gains options, instead of every scenario.
 */
import { randomBytes } from 'node:crypto';
import { createCore, type Core } from '../../src/server/core.js';
import { systemClock } from '../../src/shared/clock.js';
import type { Store } from '../../src/store/index.js';

export const BENCH_TRUST_DOMAIN = 'steward.local';

/**
 * A core on the real clock. Background jobs are not started: a scenario measures its own calls,
 * not a scheduler running beside them. The master key is random per run, as nothing outlives it.
 */
export function benchCore(store: Store): Core {
  return createCore({
    store,
    clock: systemClock,
    trustDomain: BENCH_TRUST_DOMAIN,
    issuer: 'http://steward.bench',
    masterKey: randomBytes(32),
  });
}
