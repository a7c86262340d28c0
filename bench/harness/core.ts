/**
 * The Steward core as the server wires it, over a bench store: one place to follow when
 * `createCore` gains options, instead of every scenario.
 */
import { randomBytes } from 'node:crypto';
import { SYSTEM_ACTOR } from '../../src/actors/index.js';
import { createCore, type Core } from '../../src/server/core.js';
import { systemClock } from '../../src/shared/clock.js';
import type { Store } from '../../src/store/index.js';
import type { TokenSubject } from '../../src/tokens/index.js';

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

/**
 * A core that can sign: {@link benchCore}, started without jobs, which makes its first signing
 * key (and subscribes to the store's notifications, as a server would).
 */
export async function signingBenchCore(store: Store): Promise<Core> {
  const core = benchCore(store);
  await core.start({ jobs: false });
  return core;
}

/**
 * One workload to issue tokens to, made through the domain code (a team, a service and a sandbox
 * identity), as the token exchange would load it for the minter.
 */
export async function benchWorkload(core: Core, agentPath = 'worker'): Promise<TokenSubject> {
  const system = { actor: SYSTEM_ACTOR };
  await core.teams.create(system, {
    name: 'bench',
    contact: 'bench@example.com',
    escalation: '+1-555-0100',
  });
  await core.services.create(system, {
    name: 'bench-agent',
    team: 'bench',
    dataClassification: 'internal',
  });
  const identity = await core.identities.create(system, {
    service: 'bench-agent',
    environment: 'sandbox',
    agentPath,
  });
  return {
    id: identity.id,
    spiffeId: identity.spiffeId,
    service: identity.service,
    team: identity.team,
    environment: identity.environment,
    agentPath: identity.agentPath,
    maxTokenTtlSeconds: identity.maxTokenTtlSeconds,
    maxSessionSeconds: identity.maxSessionSeconds,
  };
}
