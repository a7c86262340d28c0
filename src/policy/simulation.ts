import type { Kysely } from 'kysely';
import { loadDecisionRecords } from '../audit/index.js';
import type { Database } from '../store/index.js';
import { compilePolicies, type PolicyWarning } from './compile.js';
import { prepareSet } from './current-set.js';
import type { DecisionRecord } from './decision-point.js';
import type { DraftWarnings } from './draft-warnings.js';
import type {
  AuthorizationRequest,
  Decision,
  EntityUid,
  PolicyEvaluationError,
} from './engine/index.js';
import type { EntitySnapshots } from './entity-snapshot.js';
import { decideRequest } from './evaluate.js';
import type { DecisionValue } from './vocabulary.js';

export interface SimulationInput {
  readonly policies: string;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly limit?: number | undefined;
}

/** A recorded decision that would come out differently under the draft. */
export interface SimulatedChange {
  readonly event: string;
  readonly occurredAt: string;
  readonly principal: EntityUid;
  readonly action: string;
  readonly resource: EntityUid;
  readonly before: {
    readonly decision: DecisionValue;
    readonly policies: string[];
    readonly policyVersion: number;
  };
  readonly after: {
    readonly decision: DecisionValue;
    readonly policies: string[];
    readonly errors: PolicyEvaluationError[];
  };
}

export interface SimulationReport {
  readonly evaluated: number;
  readonly changed: number;
  readonly unchanged: number;
  /** Recorded requests that no longer evaluate (say, their resource is gone). */
  readonly skipped: number;
  readonly changes: SimulatedChange[];
  /** True when `changes` was cut at {@link MAX_REPORTED_CHANGES}. */
  readonly truncated: boolean;
  readonly warnings: PolicyWarning[];
}

/** At most this many changes are listed in one simulation report; the counts cover all. */
export const MAX_REPORTED_CHANGES = 500;
/** The most recorded decisions one simulation replays. */
export const MAX_SIMULATION_EVENTS = 10_000;

/** Replays recorded decisions against a draft and reports which would change. */
export type Simulate = (input: SimulationInput) => Promise<SimulationReport>;

/**
 * Simulation: the newest recorded decisions (of the API and the gateway), replayed against a
 * draft over today's entities. Nothing is stored or recorded.
 */
export function createSimulation(deps: {
  db: Kysely<Database>;
  snapshots: EntitySnapshots;
  draftWarnings: DraftWarnings;
}): Simulate {
  const { db, snapshots, draftWarnings } = deps;
  return async (input) => {
    const draft = compilePolicies(input.policies);
    const candidate = prepareSet(-1, draft);
    try {
      const snap = await snapshots.current();
      const rows = await loadDecisionRecords(db, {
        since: input.since,
        until: input.until,
        limit: Math.min(input.limit ?? 1000, MAX_SIMULATION_EVENTS),
      });
      const changes: SimulatedChange[] = [];
      let changed = 0;
      let skipped = 0;
      for (const row of rows) {
        const record = row.record as DecisionRecord;
        const request: AuthorizationRequest = {
          principal: record.principal,
          action: record.action,
          resource: record.resource,
          context: record.context,
        };
        let after: Decision;
        try {
          const described = [
            ...(record.resourceEntity ? [record.resourceEntity] : []),
            ...(record.extraEntities ?? []),
          ];
          after = decideRequest(candidate, snap, request, described);
        } catch {
          skipped++;
          continue;
        }
        if (after.decision === record.decision) continue;
        changed++;
        if (changes.length < MAX_REPORTED_CHANGES) {
          changes.push({
            event: row.id,
            occurredAt: row.occurredAt,
            principal: record.principal,
            action: record.action.id,
            resource: record.resource,
            before: {
              decision: record.decision,
              policies: [...record.policies],
              policyVersion: record.policyVersion,
            },
            after: {
              decision: after.decision,
              policies: [...after.reasons],
              errors: [...after.errors],
            },
          });
        }
      }
      return {
        evaluated: rows.length - skipped,
        changed,
        unchanged: rows.length - skipped - changed,
        skipped,
        changes,
        truncated: changed > changes.length,
        warnings: await draftWarnings(draft),
      };
    } finally {
      candidate.prepared.release();
    }
  };
}
