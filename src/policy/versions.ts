import type { Kysely } from 'kysely';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { notFound, StewardError } from '../errors/index.js';
import { loadTeamHoldings } from '../registry/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, encodeCursor, type Page } from '../shared/cursor.js';
import type { Database, Store } from '../store/index.js';
import type { PolicyVersionTable } from '../store/schema.js';
import {
  compilePolicies,
  type CompiledPolicy,
  type PolicySetDraft,
  type PolicyWarning,
} from './compile.js';
import { diffLines } from './diff.js';
import type { DraftWarnings } from './draft-warnings.js';
import { key } from './entities.js';
import { breadthFindings, type PolicyFinding } from './findings.js';
import { qualified } from './schema.js';
import type { PolicyEffect } from './vocabulary.js';

/** One stored version's metadata. Version 0 is the empty set Steward starts with (deny all). */
export interface PolicyVersion {
  readonly version: number;
  readonly author: string;
  readonly message: string;
  readonly createdAt: string | null;
  readonly policyCount: number;
  readonly rolledBackFrom: number | null;
}

/** One policy of a set, as listed. */
export interface PolicySummary {
  readonly id: string;
  readonly effect: PolicyEffect;
  readonly line: number;
  readonly annotations: Readonly<Record<string, string>>;
  readonly text: string;
}

/** A version with its text. For an owner, `filtered` is true and only its team's policies are there. */
export interface PolicySetView extends PolicyVersion {
  readonly text: string;
  readonly policies: PolicySummary[];
  readonly filtered: boolean;
}

export interface PolicyVersionDetail extends PolicySetView {
  /** The version this one is compared with (the one before it), null for the first. */
  readonly previous: number | null;
  /** A line diff against `previous`: every line marked ` `, `-` or `+`. */
  readonly diff: string;
}

/** A new version to store. */
export interface PolicyWriteInput {
  readonly policies: string;
  readonly message: string;
  /**
   * The version the writer read and changed (HTTP `If-Match`): the write is refused if another
   * version was stored since, so that nobody replaces policies they have not seen.
   */
  readonly ifVersion?: readonly number[] | undefined;
}

export interface PolicyWriteResult extends PolicyVersion {
  readonly warnings: PolicyWarning[];
}

export interface ValidationResult {
  readonly valid: true;
  readonly policies: PolicySummary[];
  readonly warnings: PolicyWarning[];
  readonly findings: PolicyFinding[];
}

/** The stored versions of the policy set: read, write (with `If-Match`), history, rollback. */
export interface PolicyVersionStore {
  /** The current set (an owner sees its team's policies only). */
  current(context: ChangeContext): Promise<PolicySetView>;
  /**
   * Validates and stores a new version; refuses with positions and stores nothing when invalid.
   * With `ifVersion`, stores only if the current version is still one of those.
   *
   * @throws StewardError `policy_version_mismatch` when `ifVersion` is not the current version.
   */
  put(context: ChangeContext, input: PolicyWriteInput): Promise<PolicyWriteResult>;
  versions(options: { cursor?: string | undefined; limit: number }): Promise<Page<PolicyVersion>>;
  version(context: ChangeContext, version: number): Promise<PolicyVersionDetail>;
  /** Restores the text of `version` as a new version (with `ifVersion` as for `put`). */
  rollback(
    context: ChangeContext,
    input: { version: number; message: string; ifVersion?: readonly number[] | undefined },
  ): Promise<PolicyWriteResult>;
  /** Validates text against the schema without storing it; warns about unknown entities. */
  validate(text: string): Promise<ValidationResult>;
}

const EMPTY_VERSION: PolicyVersion = {
  version: 0,
  author: 'system',
  message: 'No policies yet: every request is denied.',
  createdAt: null,
  policyCount: 0,
  rolledBackFrom: null,
};

/** The newest stored version, read through `source` (the store, or a transaction on it). */
export async function latestVersionRow(
  source: Kysely<Database>,
): Promise<PolicyVersionTable | undefined> {
  return source
    .selectFrom('policy_versions')
    .selectAll()
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The newest stored version's number; 0 before any was stored. */
export async function latestVersionNumber(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('policy_versions')
    .select((eb) => eb.fn.max('version').as('version'))
    .executeTakeFirst();
  return row?.version ?? 0;
}

/**
 * The version store. `onStored` is told of every version this process stores, once it is
 * durable, so that decisions switch to it.
 */
export function createPolicyVersionStore(deps: {
  store: Store;
  clock: Clock;
  draftWarnings: DraftWarnings;
  onStored: (version: number, draft: PolicySetDraft) => Promise<void>;
}): PolicyVersionStore {
  const { store, clock, draftWarnings, onStored } = deps;
  const db = store.db;

  /** The names an owner's team answers for: its team, services and workloads, as entity keys. */
  async function teamEntities(teamName: string): Promise<Set<string>> {
    const { services, workloadIds } = await loadTeamHoldings(db, teamName);
    return new Set([
      key({ type: qualified('Team'), id: teamName }),
      ...services.map((name) => key({ type: qualified('Service'), id: name })),
      ...workloadIds.map((id) => key({ type: qualified('Workload'), id })),
    ]);
  }

  /** An owner's view keeps the policies whose principal or resource scope names its team's entities. */
  async function view(
    context: ChangeContext,
    version: PolicyVersion,
    text: string,
  ): Promise<PolicySetView> {
    const draft = text === '' ? { policies: [] as CompiledPolicy[] } : compilePolicies(text);
    const actor = context.actor;
    if (actor.role !== 'owner') {
      return { ...version, text, policies: draft.policies.map(summary), filtered: false };
    }
    const mine = await teamEntities(actor.teamName ?? '');
    const kept = draft.policies.filter((p) => scopeNames(p).some((k) => mine.has(k)));
    return {
      ...version,
      text: kept.map((p) => p.text).join('\n\n'),
      policies: kept.map(summary),
      filtered: true,
    };
  }

  async function write(
    context: ChangeContext,
    text: string,
    message: string,
    rolledBackFrom: number | null,
    ifVersion: readonly number[] | undefined,
  ): Promise<PolicyWriteResult> {
    const draft = compilePolicies(text);
    const warnings = await draftWarnings(draft);
    const result = await store.exclusive('policies', async (trx) => {
      const latest = await latestVersionRow(trx);
      const current = latest?.version ?? 0;
      if (ifVersion !== undefined && !ifVersion.includes(current)) {
        throw new StewardError(
          'policy_version_mismatch',
          `The policy set is at version ${current}, not ${ifVersion.join(' or ')}: it changed since it was read. Nothing was stored; read it again (GET /v1/policies), apply the change to it and send If-Match: "${current}".`,
          {
            errors: [{ pointer: '/headers/if-match', detail: `the current version is ${current}` }],
          },
        );
      }
      const now = clock.now();
      const row: PolicyVersionTable = {
        version: (latest?.version ?? 0) + 1,
        text,
        policy_count: draft.policies.length,
        author: context.actor.ref,
        message,
        rolled_back_from: rolledBackFrom,
        created_at: isoTime(now),
      };
      await trx.insertInto('policy_versions').values(row).execute();
      const version = toVersion(row);
      await recordChange(trx, clock, context, {
        type: rolledBackFrom === null ? 'policy.updated' : 'policy.rolled_back',
        targetKind: 'policy_set',
        targetId: String(row.version),
        before: latest ? { version: latest.version } : { version: 0 },
        after: {
          ...version,
          policies: draft.policies.map((p) => p.id),
          diff: diffLines(latest?.text ?? '', text),
        },
      });
      return version;
    });
    await onStored(result.version, draft);
    return { ...result, warnings };
  }

  async function findVersion(version: number): Promise<PolicyVersionTable> {
    const row = await db
      .selectFrom('policy_versions')
      .selectAll()
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) throw notFound('policy version', String(version));
    return row;
  }

  return {
    async current(context) {
      const row = await latestVersionRow(db);
      return view(context, row ? toVersion(row) : EMPTY_VERSION, row?.text ?? '');
    },

    put(context, input) {
      return write(context, input.policies, input.message, null, input.ifVersion);
    },

    async versions({ cursor, limit }) {
      let query = db.selectFrom('policy_versions').selectAll();
      if (cursor !== undefined)
        query = query.where('version', '<', decodeCursor<number>(cursor, 'number'));
      const rows = await query
        .orderBy('version', 'desc')
        .limit(limit + 1)
        .execute();
      const items = rows.slice(0, limit).map(toVersion);
      const last = items.at(-1);
      return rows.length > limit && last
        ? { items, nextCursor: encodeCursor(last.version) }
        : { items };
    },

    async version(context, version) {
      const row = await findVersion(version);
      const previous = await db
        .selectFrom('policy_versions')
        .selectAll()
        .where('version', '<', version)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      const shown = await view(context, toVersion(row), row.text);
      const before = previous ? (await view(context, toVersion(previous), previous.text)).text : '';
      return { ...shown, previous: previous?.version ?? null, diff: diffLines(before, shown.text) };
    },

    async rollback(context, input) {
      const row = await findVersion(input.version);
      return write(context, row.text, input.message, row.version, input.ifVersion);
    },

    async validate(text) {
      const draft = compilePolicies(text);
      return {
        valid: true,
        policies: draft.policies.map(summary),
        warnings: await draftWarnings(draft),
        findings: breadthFindings(draft.policies),
      };
    },
  };
}

function toVersion(row: PolicyVersionTable): PolicyVersion {
  return {
    version: row.version,
    author: row.author,
    message: row.message,
    createdAt: row.created_at,
    policyCount: row.policy_count,
    rolledBackFrom: row.rolled_back_from,
  };
}

function summary(policy: CompiledPolicy): PolicySummary {
  return {
    id: policy.id,
    effect: policy.effect,
    line: policy.line,
    annotations: policy.annotations,
    text: policy.text,
  };
}

/** The entities a policy's principal and resource scope name (by `==`, `in` or `is … in`). */
function scopeNames(policy: CompiledPolicy): string[] {
  const names: string[] = [];
  for (const constraint of [policy.json.principal, policy.json.resource]) {
    const target =
      constraint.op === '==' || constraint.op === 'in'
        ? 'entity' in constraint
          ? constraint.entity
          : undefined
        : constraint.op === 'is' && constraint.in && 'entity' in constraint.in
          ? constraint.in.entity
          : undefined;
    if (target) names.push(key('__entity' in target ? target.__entity : target));
  }
  return names;
}
