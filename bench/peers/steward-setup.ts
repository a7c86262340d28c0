/**
 * Steward's side of the `/v1/authorize` comparison, set up through its admin API as an operator
 * would: the team, the two services (admitted to pilot and production), one identity per bench
 * workload, and the generated policy set. Shared by the bench and by the test that checks both
 * engines give the same decisions.
 */
import {
  cedarPolicies,
  OTHER_SERVICE,
  TEAM,
  TENANT_SERVICE,
  WORKLOADS,
  type BenchWorkload,
} from './policies.js';

/** One admin API call with an admin key; answers the parsed body or throws on a non-2xx. */
export type AdminCall = <T = Record<string, unknown>>(
  method: 'POST' | 'PUT',
  url: string,
  body: unknown,
) => Promise<T>;

/** Registers the bench's workloads; answers each workload's identity id by its bench name. */
export async function registerWorkloads(admin: AdminCall): Promise<Record<string, string>> {
  await admin('POST', '/v1/teams', {
    name: TEAM,
    contact: 'bench@example.com',
    escalation: '+1-555-0100',
  });
  for (const service of [TENANT_SERVICE, OTHER_SERVICE]) {
    await admin('POST', '/v1/services', {
      name: service,
      team: TEAM,
      dataClassification: 'internal',
    });
    await admin('PUT', `/v1/services/${service}/admitted-environments`, {
      environments: ['pilot', 'production'],
      reason: 'peers bench',
    });
  }
  const ids: Record<string, string> = {};
  for (const workload of Object.values(WORKLOADS) as BenchWorkload[]) {
    const { id } = await admin<{ id: string }>('POST', '/v1/identities', {
      service: workload.service,
      environment: workload.environment,
      agentPath: workload.agentPath,
    });
    ids[workload.name] = id;
  }
  return ids;
}

/** Stores the generated set of `rules` rules as the current policies. */
export async function writePolicies(admin: AdminCall, rules: number): Promise<void> {
  await admin('PUT', '/v1/policies', {
    policies: cedarPolicies(rules),
    message: `peers bench: ${rules} rules`,
  });
}
