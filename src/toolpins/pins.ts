import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { SYSTEM_ACTOR, type ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { forbidden, notFound, StewardError } from '../errors/index.js';
import type { TeamService } from '../registry/index.js';
import { canManageCredential } from '../secrets/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import type { Database, ReplicatedCache, Store } from '../store/index.js';
import type { ToolPinTable } from '../store/schema.js';
import type { Upstream, UpstreamService } from '../upstreams/index.js';
import type { ToolFingerprint } from './definition.js';
import { definitionChanges, type DefinitionChange } from './diff.js';

/** What a changed, new or removed tool definition does: hidden until accepted, or served with a finding. */
export const ON_CHANGE_MODES = ['hide', 'warn'] as const;
export type OnChange = (typeof ON_CHANGE_MODES)[number];

/** Cross-replica notifications of pin changes; payload `<upstream id> <writer>`. */
export const TOOL_PINS_CHANNEL = 'tool_pins';

/** A replica re-reads an upstream's pins at least this often, should a notification be lost. */
export const PIN_STATE_MAX_AGE_MS = 5_000;

/** Tools kept per upstream (removed ones included); tools beyond are never pinned, so never served. */
export const MAX_PINNED_TOOLS = 2_000;

/**
 * Where a changed tool definition sits in the standards: a third-party tool provider's change
 * (OWASP NHI3:2025), supply chain and tool poisoning (OWASP LLM03:2025, LLM01:2025, Agentic
 * ASI04), external service providers monitored (NIST CSF 2.0 DE.CM-06), software integrity
 * assessed before use (ID.RA-09).
 */
export const TOOL_CHANGE_MAPPING = Object.freeze([
  'OWASP-NHI-2025:NHI3',
  'OWASP-LLM-2025:LLM03',
  'OWASP-LLM-2025:LLM01',
  'OWASP-ASI-2026:ASI04',
  'NIST-CSF-2.0:DE.CM-06',
  'NIST-CSF-2.0:ID.RA-09',
]);

/** The upstream a pin belongs to: its id keys the pins, its name and team label the records. */
export type PinnedUpstream = Pick<Upstream, 'id' | 'name' | 'team'>;

/** One tool's accepted hash and the hash last seen (null: never accepted; no longer listed). */
export interface ToolPin {
  readonly pinned: string | null;
  readonly current: string | null;
}

/** An upstream's pins as the gateway consults them on every call. */
export interface PinState {
  readonly onChange: OnChange;
  /** False until a complete listing pinned every tool the upstream had then. */
  readonly pinned: boolean;
  readonly tools: ReadonlyMap<string, ToolPin>;
}

/** A listing as the gateway saw it: each tool's fingerprint; `complete` when not one page of many. */
export interface ObservedTools {
  readonly tools: ReadonlyMap<string, ToolFingerprint>;
  readonly complete: boolean;
}

/** `accepted`: the definition is the pinned one; otherwise it is served only in `warn` mode. */
export type ToolStanding = 'accepted' | 'changed' | 'unaccepted';

/**
 * Whether a tool, listed with definition `hash`, may be served: `accepted` when that hash is the
 * pinned one and no replica has seen another since; `changed` when not; `unaccepted` for a tool
 * that appeared after the first pin (or anything not pinned at all).
 */
export function toolStanding(state: PinState, name: string, hash: string): ToolStanding {
  const pin = state.tools.get(name);
  if (!state.pinned || pin === undefined || pin.pinned === null) return 'unaccepted';
  if (hash !== pin.pinned) return 'changed';
  if (pin.current !== null && pin.current !== pin.pinned) return 'changed';
  return 'accepted';
}

/** Whether `standing` is served under `state`'s mode. */
export function servedUnder(state: PinState, standing: ToolStanding): boolean {
  return standing === 'accepted' || state.onChange === 'warn';
}

/** A tool's pins as the API shows them. */
export interface ToolPinView {
  readonly name: string;
  /** `accepted`; `changed` (current differs from pinned); `new` (never accepted); `removed`. */
  readonly status: 'accepted' | 'changed' | 'new' | 'removed';
  readonly pinned: {
    readonly hash: string;
    readonly definition: unknown;
    readonly pinnedAt: string | null;
    readonly pinnedBy: string | null;
  } | null;
  readonly current: { readonly hash: string; readonly definition: unknown } | null;
  readonly observedAt: string;
  /** Pinned → current, member by member (empty unless both exist and differ). */
  readonly changes: readonly DefinitionChange[];
}

/** An upstream's pins and setting, as the API shows them. */
export interface ToolPinsView {
  readonly upstream: string;
  readonly onChange: OnChange;
  /** When the first complete listing pinned its tools; null before. */
  readonly pinnedAt: string | null;
  readonly tools: readonly ToolPinView[];
}

export interface ToolPinService {
  /** The pins of `upstream` (cached per replica; re-read on change notifications and by age). */
  state(upstream: PinnedUpstream): Promise<PinState>;
  /**
   * Compares a listing with the pins: the first complete listing pins every tool
   * (`tool.pinned`); afterwards a new, changed or (in a complete listing) removed definition is
   * written as the current one and raises `finding.tool_definition_changed`, once across all
   * replicas. Returns the pins after.
   */
  observe(upstream: PinnedUpstream, seen: ObservedTools, requestId?: string): Promise<PinState>;
  /** Pinned and current definitions of an MCP upstream's tools, with their differences. */
  view(upstream: string): Promise<ToolPinsView>;
  /**
   * Accepts the current definition of `tool`, named by its `hash` (which must be the current
   * one: `tool_hash_mismatch` otherwise). Admin, security, or an owner of the upstream's team.
   */
  accept(
    context: ChangeContext,
    upstream: string,
    tool: string,
    hash: string,
  ): Promise<ToolPinView>;
  /** Sets what a change does on `upstream`. Admin, security, or an owner of its team. */
  configure(context: ChangeContext, upstream: string, onChange: OnChange): Promise<ToolPinsView>;
  /** Calls `listener` with an upstream id whenever its pins changed (here or on another replica). */
  onChanged(listener: (upstreamId: string) => void): () => void;
  /**
   * How the pins follow the other replicas: a notification drops the named upstream's copy. No
   * poll: a copy older than {@link PIN_STATE_MAX_AGE_MS} is re-read on its next use anyway.
   */
  readonly replication: ReplicatedCache;
}

interface Cached {
  readonly state: PinState;
  readonly loadedAt: number;
}

interface Change {
  readonly tool: string;
  readonly change: 'added' | 'changed' | 'removed';
  readonly pinned: { readonly hash: string; readonly definition: string } | null;
  readonly current: ToolFingerprint | null;
}

/**
 * Builds the pin service. It owns the `tool_pin_upstreams` and `tool_pins` tables; the gateway
 * reads them through `state` (memory, refreshed by notification and at most
 * {@link PIN_STATE_MAX_AGE_MS} old) and writes them only through `observe`.
 */
export function createToolPinService(deps: {
  store: Store;
  clock: Clock;
  upstreams: Pick<UpstreamService, 'get'>;
  teams: Pick<TeamService, 'get'>;
  /** Told when a pin change could not be announced to the other replicas. */
  onAnnounceFailed: (channel: string, error: unknown) => void;
}): ToolPinService {
  const { store, clock, onAnnounceFailed } = deps;
  const db = store.db;
  // Tells this replica's own notifications apart: it has applied them already.
  const writer = randomUUID();
  const cache = new Map<string, Cached>();
  const loading = new Map<string, Promise<PinState>>();
  const listeners = new Set<(upstreamId: string) => void>();

  async function load(upstreamId: string): Promise<PinState> {
    const [settings, rows] = await Promise.all([
      db
        .selectFrom('tool_pin_upstreams')
        .select(['on_change', 'pinned_at'])
        .where('upstream_id', '=', upstreamId)
        .executeTakeFirst(),
      db
        .selectFrom('tool_pins')
        .select(['tool', 'pinned_hash', 'current_hash'])
        .where('upstream_id', '=', upstreamId)
        .execute(),
    ]);
    return {
      onChange: settings?.on_change === 'warn' ? 'warn' : 'hide',
      pinned: settings?.pinned_at != null,
      tools: new Map(
        rows.map((row) => [row.tool, { pinned: row.pinned_hash, current: row.current_hash }]),
      ),
    };
  }

  async function state(upstream: PinnedUpstream): Promise<PinState> {
    const cached = cache.get(upstream.id);
    const age = cached === undefined ? -1 : clock.now() - cached.loadedAt;
    // A clock that went back makes the copy stale, not fresh.
    if (cached !== undefined && age >= 0 && age < PIN_STATE_MAX_AGE_MS) return cached.state;
    const pending = loading.get(upstream.id);
    if (pending !== undefined) return pending;
    const loadedAt = clock.now();
    const next = load(upstream.id).then((loaded) => {
      // A change applied while this read ran has dropped the entry: keep that one's result.
      if (loading.get(upstream.id) === next) cache.set(upstream.id, { state: loaded, loadedAt });
      return loaded;
    });
    loading.set(upstream.id, next);
    try {
      return await next;
    } finally {
      if (loading.get(upstream.id) === next) loading.delete(upstream.id);
    }
  }

  /** Forgets what this replica knew of `upstreamId` and tells the listeners. */
  function changed(upstreamId: string): void {
    cache.delete(upstreamId);
    loading.delete(upstreamId);
    for (const listener of listeners) listener(upstreamId);
  }

  async function announce(upstreamId: string): Promise<void> {
    changed(upstreamId);
    // The change is durable: a failed announcement is reported, not thrown, since the other
    // replicas re-read by age anyway.
    await store.notifications
      .publish(TOOL_PINS_CHANNEL, `${upstreamId} ${writer}`)
      .catch((error: unknown) => onAnnounceFailed(TOOL_PINS_CHANNEL, error));
  }

  function system(requestId: string | undefined): ChangeContext {
    return requestId === undefined ? { actor: SYSTEM_ACTOR } : { actor: SYSTEM_ACTOR, requestId };
  }

  /** Pins every tool of the first complete listing; false when another writer got there first. */
  async function pinFirst(
    upstream: PinnedUpstream,
    seen: ObservedTools,
    requestId: string | undefined,
  ): Promise<boolean> {
    return db.transaction().execute(async (trx) => {
      const now = isoTime(clock.now());
      const inserted = await trx
        .insertInto('tool_pin_upstreams')
        .values({
          upstream_id: upstream.id,
          on_change: 'hide',
          pinned_at: now,
          updated_by: SYSTEM_ACTOR.ref,
          updated_at: now,
        })
        .onConflict((conflict) => conflict.column('upstream_id').doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
        // A row set by `configure` before any listing: pin now, unless another writer has.
        const updated = await trx
          .updateTable('tool_pin_upstreams')
          .set({ pinned_at: now })
          .where('upstream_id', '=', upstream.id)
          .where('pinned_at', 'is', null)
          .executeTakeFirst();
        if (Number(updated.numUpdatedRows) === 0) return false;
      }
      const tools = [...seen.tools].slice(0, MAX_PINNED_TOOLS);
      // In batches, well within both databases' limits on parameters per statement.
      for (let start = 0; start < tools.length; start += 200) {
        await trx
          .insertInto('tool_pins')
          .values(
            tools.slice(start, start + 200).map(([tool, fingerprint]) => ({
              upstream_id: upstream.id,
              tool,
              pinned_hash: fingerprint.hash,
              pinned_definition: fingerprint.definition,
              pinned_by: SYSTEM_ACTOR.ref,
              pinned_at: now,
              current_hash: fingerprint.hash,
              current_definition: fingerprint.definition,
              observed_at: now,
            })),
          )
          .onConflict((conflict) => conflict.columns(['upstream_id', 'tool']).doNothing())
          .execute();
      }
      await recordChange(trx, clock, system(requestId), {
        type: 'tool.pinned',
        targetKind: 'upstream',
        targetId: upstream.id,
        team: upstream.team,
        after: {
          upstream: upstream.name,
          tools: tools.map(([name, fingerprint]) => ({ name, hash: fingerprint.hash })),
        },
      });
      return true;
    });
  }

  /** Applies one change unless another writer already has; returns what it changed, if anything. */
  async function apply(
    trx: Transaction<Database>,
    upstreamId: string,
    tool: string,
    current: ToolFingerprint | null,
    now: string,
  ): Promise<Change | undefined> {
    const pinnedOf = (row: Pick<ToolPinTable, 'pinned_hash' | 'pinned_definition'>) =>
      row.pinned_hash === null || row.pinned_definition === null
        ? null
        : { hash: row.pinned_hash, definition: row.pinned_definition };
    if (current === null) {
      const [row] = await trx
        .updateTable('tool_pins')
        .set({ current_hash: null, current_definition: null, observed_at: now })
        .where('upstream_id', '=', upstreamId)
        .where('tool', '=', tool)
        .where('current_hash', 'is not', null)
        .returning(['pinned_hash', 'pinned_definition'])
        .execute();
      const pinned = row === undefined ? null : pinnedOf(row);
      // The removal of a tool never accepted is no risk to report.
      return pinned === null ? undefined : { tool, change: 'removed', pinned, current: null };
    }
    const [row] = await trx
      .updateTable('tool_pins')
      .set({ current_hash: current.hash, current_definition: current.definition, observed_at: now })
      .where('upstream_id', '=', upstreamId)
      .where('tool', '=', tool)
      .where((eb) =>
        eb.or([eb('current_hash', 'is', null), eb('current_hash', '<>', current.hash)]),
      )
      .returning(['pinned_hash', 'pinned_definition'])
      .execute();
    if (row !== undefined) {
      const pinned = pinnedOf(row);
      // Back to the accepted definition: nothing to report.
      if (pinned?.hash === current.hash) return undefined;
      return { tool, change: pinned === null ? 'added' : 'changed', pinned, current };
    }
    const exists = await trx
      .selectFrom('tool_pins')
      .select('tool')
      .where('upstream_id', '=', upstreamId)
      .where('tool', '=', tool)
      .executeTakeFirst();
    if (exists !== undefined) return undefined;
    const count = await trx
      .selectFrom('tool_pins')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('upstream_id', '=', upstreamId)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= MAX_PINNED_TOOLS) return undefined;
    const inserted = await trx
      .insertInto('tool_pins')
      .values({
        upstream_id: upstreamId,
        tool,
        pinned_hash: null,
        pinned_definition: null,
        pinned_by: null,
        pinned_at: null,
        current_hash: current.hash,
        current_definition: current.definition,
        observed_at: now,
      })
      .onConflict((conflict) => conflict.columns(['upstream_id', 'tool']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return undefined;
    return { tool, change: 'added', pinned: null, current };
  }

  async function observe(
    upstream: PinnedUpstream,
    seen: ObservedTools,
    requestId?: string,
  ): Promise<PinState> {
    let known = await state(upstream);
    if (!known.pinned) {
      // Only a complete listing pins: a page would leave the other pages' tools "new".
      if (!seen.complete) return known;
      const first = await pinFirst(upstream, seen, requestId);
      await announce(upstream.id);
      known = await state(upstream);
      if (first) return known;
    }
    // Compared in memory first: an unchanged listing (the usual case) costs no write.
    const pending: [string, ToolFingerprint | null][] = [];
    for (const [tool, fingerprint] of seen.tools) {
      if (known.tools.get(tool)?.current !== fingerprint.hash) pending.push([tool, fingerprint]);
    }
    if (seen.complete) {
      for (const [tool, pin] of known.tools) {
        if (pin.current !== null && !seen.tools.has(tool)) pending.push([tool, null]);
      }
    }
    if (pending.length === 0) return known;
    const onChange = known.onChange;
    await db.transaction().execute(async (trx) => {
      const now = isoTime(clock.now());
      for (const [tool, current] of pending) {
        const change = await apply(trx, upstream.id, tool, current, now);
        if (change !== undefined) await recordFinding(trx, upstream, change, onChange, requestId);
      }
    });
    await announce(upstream.id);
    return state(upstream);
  }

  async function recordFinding(
    trx: Transaction<Database>,
    upstream: PinnedUpstream,
    change: Change,
    onChange: OnChange,
    requestId: string | undefined,
  ): Promise<void> {
    const fields =
      change.pinned !== null && change.current !== null
        ? changedFields(change.pinned.definition, change.current.definition)
        : [];
    await recordChange(trx, clock, system(requestId), {
      type: 'finding.tool_definition_changed',
      targetKind: 'finding',
      targetId: newId(clock.now()),
      team: upstream.team,
      after: {
        upstream: upstream.name,
        tool: change.tool,
        change: change.change,
        pinnedHash: change.pinned?.hash ?? null,
        currentHash: change.current?.hash ?? null,
        changedFields: fields,
        onChange,
        hidden: onChange === 'hide' && change.change !== 'removed',
        severity: 'high',
        mapping: TOOL_CHANGE_MAPPING,
      },
    });
  }

  /** An MCP upstream by name, for the API (an HTTP upstream has no tools to pin). */
  async function mcpUpstream(name: string): Promise<Upstream> {
    const upstream = await deps.upstreams.get(name);
    if (upstream.kind !== 'mcp') throw notFound('MCP upstream', name);
    return upstream;
  }

  async function authorise(context: ChangeContext, upstream: Upstream): Promise<void> {
    const team = await deps.teams.get(upstream.team);
    if (!canManageCredential(context.actor, team.id)) {
      throw forbidden(
        `This key may not manage the tools of upstreams of team ${JSON.stringify(upstream.team)}.`,
      );
    }
  }

  async function viewOf(
    trx: Kysely<Database>,
    upstream: Upstream,
    tool?: string,
  ): Promise<ToolPinsView> {
    const settings = await trx
      .selectFrom('tool_pin_upstreams')
      .select(['on_change', 'pinned_at'])
      .where('upstream_id', '=', upstream.id)
      .executeTakeFirst();
    let query = trx.selectFrom('tool_pins').selectAll().where('upstream_id', '=', upstream.id);
    if (tool !== undefined) query = query.where('tool', '=', tool);
    const rows = await query.execute();
    rows.sort((a, b) => (a.tool < b.tool ? -1 : a.tool > b.tool ? 1 : 0));
    return {
      upstream: upstream.name,
      onChange: settings?.on_change === 'warn' ? 'warn' : 'hide',
      pinnedAt: settings?.pinned_at ?? null,
      tools: rows.map(toView),
    };
  }

  return {
    state,
    observe,

    async view(name) {
      return viewOf(db, await mcpUpstream(name));
    },

    async accept(context, name, tool, hash) {
      const upstream = await mcpUpstream(name);
      await authorise(context, upstream);
      const accepted = await db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('tool_pins')
          .selectAll()
          .where('upstream_id', '=', upstream.id)
          .where('tool', '=', tool)
          .executeTakeFirst();
        if (row === undefined) throw notFound('tool', tool);
        if (row.current_hash === null) {
          throw new StewardError(
            'tool_hash_mismatch',
            `The upstream no longer lists tool ${JSON.stringify(tool)}: there is no definition to accept.`,
          );
        }
        if (row.current_hash !== hash) {
          throw new StewardError(
            'tool_hash_mismatch',
            `${hash} is not the current definition of tool ${JSON.stringify(tool)}; read it again and accept what it is now.`,
          );
        }
        if (row.pinned_hash === hash) return false;
        const now = isoTime(clock.now());
        const updated = await trx
          .updateTable('tool_pins')
          .set({
            pinned_hash: row.current_hash,
            pinned_definition: row.current_definition,
            pinned_by: context.actor.ref,
            pinned_at: now,
          })
          .where('upstream_id', '=', upstream.id)
          .where('tool', '=', tool)
          .where('current_hash', '=', hash)
          .executeTakeFirst();
        if (Number(updated.numUpdatedRows) === 0) {
          throw new StewardError(
            'tool_hash_mismatch',
            `Tool ${JSON.stringify(tool)} changed while it was being accepted; read it again.`,
          );
        }
        await recordChange(trx, clock, context, {
          type: 'tool.accepted',
          targetKind: 'tool',
          targetId: `${upstream.name}/${tool}`,
          team: upstream.team,
          before: { upstream: upstream.name, tool, hash: row.pinned_hash },
          after: { upstream: upstream.name, tool, hash },
        });
        return true;
      });
      if (accepted) await announce(upstream.id);
      const [view] = (await viewOf(db, upstream, tool)).tools;
      if (view === undefined) throw notFound('tool', tool);
      return view;
    },

    async configure(context, name, onChange) {
      const upstream = await mcpUpstream(name);
      await authorise(context, upstream);
      await db.transaction().execute(async (trx) => {
        const before = await trx
          .selectFrom('tool_pin_upstreams')
          .select('on_change')
          .where('upstream_id', '=', upstream.id)
          .executeTakeFirst();
        const previous = before?.on_change === 'warn' ? 'warn' : 'hide';
        const now = isoTime(clock.now());
        await trx
          .insertInto('tool_pin_upstreams')
          .values({
            upstream_id: upstream.id,
            on_change: onChange,
            pinned_at: null,
            updated_by: context.actor.ref,
            updated_at: now,
          })
          .onConflict((conflict) =>
            conflict
              .column('upstream_id')
              .doUpdateSet({ on_change: onChange, updated_by: context.actor.ref, updated_at: now }),
          )
          .execute();
        if (previous !== onChange || before === undefined) {
          await recordChange(trx, clock, context, {
            type: 'tool.on_change_set',
            targetKind: 'upstream',
            targetId: upstream.id,
            team: upstream.team,
            before: { upstream: upstream.name, onChange: previous },
            after: { upstream: upstream.name, onChange },
          });
        }
      });
      await announce(upstream.id);
      return viewOf(db, upstream);
    },

    onChanged(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    replication: {
      name: 'tool-pins',
      channel: TOOL_PINS_CHANNEL,
      apply(payload) {
        const [upstreamId, from] = payload.split(' ');
        if (upstreamId !== undefined && upstreamId !== '' && from !== writer) changed(upstreamId);
      },
    },
  };
}

function toView(row: ToolPinTable): ToolPinView {
  const pinned = row.pinned_hash === null ? undefined : parse(row.pinned_definition);
  const current = row.current_hash === null ? undefined : parse(row.current_definition);
  const status: ToolPinView['status'] =
    row.current_hash === null
      ? 'removed'
      : row.pinned_hash === null
        ? 'new'
        : row.pinned_hash === row.current_hash
          ? 'accepted'
          : 'changed';
  return {
    name: row.tool,
    status,
    pinned:
      row.pinned_hash === null
        ? null
        : {
            hash: row.pinned_hash,
            definition: pinned,
            pinnedAt: row.pinned_at,
            pinnedBy: row.pinned_by,
          },
    current: row.current_hash === null ? null : { hash: row.current_hash, definition: current },
    observedAt: row.observed_at,
    changes: status === 'changed' ? definitionChanges(pinned, current) : [],
  };
}

function parse(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}

/** The top-level members (`description`, `inputSchema`, …) whose values differ. */
function changedFields(pinned: string, current: string): string[] {
  const a = JSON.parse(pinned) as Record<string, unknown>;
  const b = JSON.parse(current) as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key]))
    .sort();
}
