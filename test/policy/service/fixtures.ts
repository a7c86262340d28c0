/**
 * What the policy suites share: a service with one sandbox workload, and a real `steward up` for
 * the CLI suites.
 */
import path from 'node:path';
import { SYSTEM_ACTOR } from '../../../src/actors/index.js';
import { loadConfig } from '../../../src/config/index.js';
import { up, type RunningSteward } from '../../../src/server/index.js';
import { OWNER_TEAM, type TestApp } from '../../support/app.js';

/** Creates service `service` of `team` (which exists) and its sandbox workload; its identity id. */
export async function createWorkload(
  t: TestApp,
  service = 'refund-agent',
  team = OWNER_TEAM,
): Promise<string> {
  const system = { actor: SYSTEM_ACTOR };
  await t.core.services.create(system, { name: service, team, dataClassification: 'internal' });
  const identity = await t.core.identities.create(system, {
    service,
    environment: 'sandbox',
    agentPath: 'planner',
  });
  return identity.id;
}

/** `steward up` on port 0 with its data in `dir`/data and `adminKey` as the bootstrap key. */
export function startSteward(dir: string, adminKey: string): Promise<RunningSteward> {
  return up(
    loadConfig({
      STEWARD_PORT: '0',
      STEWARD_DATA_DIR: path.join(dir, 'data'),
      STEWARD_ADMIN_KEY: adminKey,
      STEWARD_LOG_LEVEL: 'silent',
    }),
    { announce: () => {} },
  );
}
