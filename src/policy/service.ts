import type { Clock } from '../shared/clock.js';
import type { ReplicatedCache, Store } from '../store/index.js';
import type { TokenVerifier } from '../tokens/index.js';
import { createCurrentSet } from './current-set.js';
import { createDecisionPoint, type DecisionPoint } from './decision-point.js';
import { draftWarnings, type UpstreamDeclarations } from './draft-warnings.js';
import { registrySource, type EntitySource } from './entities.js';
import { createEntitySnapshots } from './entity-snapshot.js';
import { breadthFindings, type PolicyFinding } from './findings.js';
import { createSimulation, type SimulationInput, type SimulationReport } from './simulation.js';
import { createPolicyVersionStore, type PolicyVersionStore } from './versions.js';

/**
 * Steward's policy service: the version store and the decision point, simulation and findings,
 * and what keeps the current set and the entity snapshot fresh across replicas.
 */
export interface PolicyService extends PolicyVersionStore, DecisionPoint {
  /** Replays recorded decisions against a draft and reports which would change. */
  simulate(input: SimulationInput): Promise<SimulationReport>;
  /** Least-privilege findings on the current set. */
  findings(): Promise<{ version: number; findings: PolicyFinding[] }>;
  /** Re-reads the current version if it changed (on start, on notification, on a timer). */
  reload(): Promise<void>;
  /**
   * The registry (teams, services, workloads) changed in this process: the next decision re-reads
   * the entities, and the other replicas are told.
   */
  registryChanged(): void;
  /**
   * How the current set (`policies`) and the entity snapshot (`registry`) follow the other
   * replicas' changes, for the one component that keeps every replicated cache fresh.
   */
  readonly replication: readonly ReplicatedCache[];
}

/**
 * The policy store and the decision point: versioned Cedar policy sets validated against the
 * schema, decisions with explanations recorded in the trail, simulation and breadth findings.
 */
export function createPolicyService(deps: {
  store: Store;
  clock: Clock;
  verifier: TokenVerifier;
  /** Where entities come from; the registry by default. */
  sources?: EntitySource[];
  /**
   * The upstreams, to warn about policies naming one that does not exist (or a tool it does not
   * declare); without it, upstreams are not checked.
   */
  upstreams?: UpstreamDeclarations;
  /**
   * Told when a change made here (a policy version, a registry change) could not be announced to
   * the other replicas; the change is durable, and they catch up at their next poll or recheck.
   */
  onAnnounceFailed: (channel: string, error: unknown) => void;
}): PolicyService {
  const { store, clock, verifier, onAnnounceFailed } = deps;
  const { db, notifications } = store;
  const snapshots = createEntitySnapshots({
    db,
    notifications,
    sources: deps.sources ?? [registrySource],
    onAnnounceFailed,
  });
  const currentSet = createCurrentSet({ db, notifications, onAnnounceFailed });
  const warnings = draftWarnings(snapshots, deps.upstreams);
  const versions = createPolicyVersionStore({
    store,
    clock,
    draftWarnings: warnings,
    onStored: (version, draft) => currentSet.stored(version, draft),
  });
  const decisions = createDecisionPoint({
    appendAuditEvents: (rows) => store.appendAuditEvents(rows),
    clock,
    verifier,
    currentSet,
    snapshots,
  });
  const simulate = createSimulation({ db, snapshots, draftWarnings: warnings });

  return {
    ...versions,
    ...decisions,
    simulate,

    async findings() {
      const set = await currentSet.get();
      return { version: set.version, findings: breadthFindings(set.draft.policies) };
    },

    reload: () => currentSet.reload(),

    registryChanged: () => snapshots.changed(),

    replication: [currentSet.replication, snapshots.replication],
  };
}
