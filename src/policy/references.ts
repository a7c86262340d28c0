import type { CompiledPolicy, PolicyWarning } from './compile.js';
import type { EntityUid } from './engine/index.js';
import { key } from './entities.js';
import { qualified } from './schema.js';

/**
 * What a policy set can be checked against: the registry's teams, services and workloads (by
 * entity key) and the upstreams, whose tools and operations are named `<upstream>/<name>`.
 */
export interface KnownEntities {
  has(entity: EntityUid): boolean;
  upstream(name: string): Promise<KnownUpstream | undefined>;
}

/** An upstream as far as a policy's names go. */
export interface KnownUpstream {
  /** The operations (tools, HTTP operations) it declares; empty when it lists them at run time. */
  readonly operations: readonly string[];
}

/** Entity types whose ids Steward can check: the registry's, and those under an upstream. */
const REGISTRY_TYPES = new Set(['Team', 'Service', 'Workload'].map(qualified));
const UNDER_UPSTREAM = new Set(['Tool', 'Operation', 'Resource', 'Prompt'].map(qualified));
const DECLARED_OPERATIONS = new Set(['Tool', 'Operation'].map(qualified));

/** At most this many distinct upstreams are looked up for one policy set. */
export const MAX_UPSTREAM_LOOKUPS = 100;

/**
 * Warnings (`unknown_entity`) for the entities the policies name that do not exist: a team,
 * service or workload the registry does not hold, an upstream that is not registered, or a tool
 * or operation its upstream does not declare. Such a policy is valid Cedar and is stored, but it
 * cannot match what its author meant until the entity exists; a misspelt team is the usual cause.
 */
export async function unknownEntityWarnings(
  policies: readonly CompiledPolicy[],
  known: KnownEntities,
): Promise<PolicyWarning[]> {
  const warnings: PolicyWarning[] = [];
  const upstreams = new Map<string, Promise<KnownUpstream | undefined>>();
  let skipped = 0;
  const upstream = (name: string): Promise<KnownUpstream | undefined> | undefined => {
    let found = upstreams.get(name);
    if (found === undefined) {
      if (upstreams.size >= MAX_UPSTREAM_LOOKUPS) return undefined;
      found = known.upstream(name);
      upstreams.set(name, found);
    }
    return found;
  };
  for (const policy of policies) {
    for (const entity of namedEntities(policy.json)) {
      let missing: string | undefined;
      if (REGISTRY_TYPES.has(entity.type)) {
        if (!known.has(entity)) missing = 'does not exist';
      } else if (entity.type === qualified('Upstream')) {
        const found = upstream(entity.id);
        if (found === undefined) skipped++;
        else if ((await found) === undefined) missing = 'is not a registered upstream';
      } else if (UNDER_UPSTREAM.has(entity.type)) {
        const slash = entity.id.indexOf('/');
        const name = slash < 0 ? entity.id : entity.id.slice(0, slash);
        const found = upstream(name);
        const operation = entity.id.slice(slash + 1);
        const declared = found === undefined ? undefined : await found;
        if (found === undefined) skipped++;
        else if (slash < 0) missing = 'does not name its upstream ("<upstream>/<name>")';
        else if (declared === undefined)
          missing = `names upstream "${name}", which is not registered`;
        else if (
          DECLARED_OPERATIONS.has(entity.type) &&
          declared.operations.length > 0 &&
          !declared.operations.includes(operation)
        ) {
          missing = `is not among the operations upstream "${name}" declares`;
        }
      }
      if (missing !== undefined) {
        const named = `${entity.type}::${JSON.stringify(entity.id)}`;
        warnings.push({
          code: 'unknown_entity',
          entity,
          policyId: policy.id,
          line: policy.line,
          detail: `line ${policy.line}: policy "${policy.id}" names ${named}, which ${missing}; it cannot match it as intended`,
        });
      }
    }
  }
  if (skipped > 0) {
    warnings.push({
      code: 'unknown_entity',
      detail: `the policies name more than ${MAX_UPSTREAM_LOOKUPS} upstreams; ${skipped} names under the others were not checked`,
    });
  }
  return warnings;
}

/** The entities a policy names in its scope and its conditions, once each, actions aside. */
export function namedEntities(json: unknown): EntityUid[] {
  const found = new Map<string, EntityUid>();
  const stack: unknown[] = [json];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (Array.isArray(next)) {
      stack.push(...(next as unknown[]));
      continue;
    }
    if (typeof next !== 'object' || next === null) continue;
    const node = next as Record<string, unknown>;
    // `{"__entity": {type, id}}` in conditions; `{"entity": …}` or `{"entities": […]}` in scopes.
    for (const candidate of [node['__entity'], node['entity'], ...listed(node['entities'])]) {
      const uid = entityUid(candidate);
      if (uid !== undefined && !uid.type.endsWith('::Action') && uid.type !== 'Action') {
        found.set(key(uid), uid);
      }
    }
    for (const value of Object.values(node)) if (typeof value === 'object') stack.push(value);
  }
  return [...found.values()];
}

function listed(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

function entityUid(value: unknown): EntityUid | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  const inner = (
    typeof o['__entity'] === 'object' && o['__entity'] !== null ? o['__entity'] : o
  ) as Record<string, unknown>;
  return typeof inner['type'] === 'string' && typeof inner['id'] === 'string'
    ? { type: inner['type'], id: inner['id'] }
    : undefined;
}
