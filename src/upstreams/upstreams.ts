import type { Kysely } from 'kysely';
import type { TeamNames } from '../access/index.js';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { forbidden, invalidField, notFound, StewardError } from '../errors/index.js';
import { canAttachCredential, canManageCredential, loadSecretOwner } from '../secrets/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { decodeCursor, toPage, type Page } from '../shared/cursor.js';
import { newId } from '../shared/ids.js';
import {
  isUniqueViolation,
  type Database,
  type ReplicatedCache,
  type Store,
} from '../store/index.js';
import type { UpstreamTable } from '../store/schema.js';
import { UPSTREAMS_CHANNEL, type EgressAllowlist } from './allowlist.js';
import { checkEgress, type EgressCheck, type HostResolver } from './egress.js';
import type { CredentialInjection, Upstream, UpstreamKind, UpstreamOperation } from './types.js';

export const UPSTREAM_KINDS = ['http', 'mcp'] as const;
export const CREDENTIAL_PLACEMENTS = ['header', 'bearer', 'query'] as const;

/** Defaults and bounds of an upstream's limits. */
export const UPSTREAM_LIMITS = {
  timeoutMs: { default: 30_000, min: 100, max: 300_000 },
  maxRequestBytes: { default: 1024 * 1024, min: 1, max: 100 * 1024 * 1024 },
  maxResponseBytes: { default: 10 * 1024 * 1024, min: 1, max: 1024 * 1024 * 1024 },
} as const;

/** Headers the gateway owns: a credential written into one would change how the request is framed. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-connection',
  'traceparent',
  'tracestate',
  'mcp-session-id',
  'mcp-protocol-version',
]);

export interface CredentialInput {
  readonly secret: string;
  readonly in: CredentialInjection['in'];
  readonly name?: string | undefined;
  readonly format?: string | undefined;
}

export interface OperationInput {
  readonly name: string;
  readonly method?: string | undefined;
  readonly path?: string | undefined;
  readonly sensitive?: boolean | undefined;
  readonly description?: string | undefined;
}

export interface CreateUpstreamInput {
  readonly name: string;
  readonly kind: UpstreamKind;
  readonly url: string;
  readonly team: string;
  readonly classification: Upstream['classification'];
  readonly credential?: CredentialInput | null | undefined;
  readonly operations?: readonly OperationInput[] | undefined;
  readonly sensitive?: readonly string[] | undefined;
  readonly timeoutMs?: number | undefined;
  readonly maxRequestBytes?: number | undefined;
  readonly maxResponseBytes?: number | undefined;
  readonly recordContent?: boolean | undefined;
  readonly rateLimit?: { readonly perSecond: number; readonly burst: number } | null | undefined;
}

/** Every field but the name may change; `credential: null` and `rateLimit: null` clear them. */
export type UpdateUpstreamInput = Partial<Omit<CreateUpstreamInput, 'name'>>;

export interface UpstreamService {
  create(context: ChangeContext, input: CreateUpstreamInput): Promise<Upstream>;
  get(name: string): Promise<Upstream>;
  list(options: {
    team?: string | undefined;
    kind?: UpstreamKind | undefined;
    cursor?: string | undefined;
    limit: number;
  }): Promise<Page<Upstream>>;
  update(context: ChangeContext, name: string, input: UpdateUpstreamInput): Promise<Upstream>;
  delete(context: ChangeContext, name: string): Promise<void>;
  /**
   * The gateway's lookup: from memory, refreshed on every change here, on notification from
   * other replicas, and by a polling job. Undefined when no such upstream exists.
   */
  resolve(name: string): Promise<Upstream | undefined>;
  /**
   * The egress guard against the current allowlist, for the gateway to run again when it
   * connects (DNS rebinding); it should connect to one of the returned addresses.
   */
  checkEgress(url: string | URL): Promise<EgressCheck>;
  /** Re-reads every upstream and the allowlist (on start, on notification, on a timer). */
  reload(): Promise<void>;
  /**
   * How the upstreams and the allowlist follow the other replicas: re-read whole on their
   * notifications and every 5 seconds.
   */
  readonly replication: ReplicatedCache;
}

type UpstreamRow = UpstreamTable & { team_name: string };

/**
 * The columns that decide nothing about where an upstream's credential goes or who may use it,
 * with no say in the decision that lets a call carry it: its limits. Whoever manages the upstream
 * may change these even when its credential is not theirs to attach. Every other column (URL,
 * kind, team, credential placement, classification, operations, sensitive names, and any column
 * added later, by default) needs that right while the upstream carries a credential.
 */
const LIMIT_COLUMNS: ReadonlySet<string> = new Set<keyof UpstreamTable>([
  'timeout_ms',
  'max_request_bytes',
  'max_response_bytes',
  'record_content',
  'rate_limit',
  'updated_at',
]);

/** The API's names of the columns a change moves (credential_secret_id shows as credential). */
function credentialFieldsChanged(before: UpstreamTable, after: UpstreamTable): string[] {
  const names: Partial<Record<keyof UpstreamTable, string>> = {
    team_id: 'team',
    credential_secret_id: 'credential',
  };
  const changed = new Set<string>();
  for (const column of Object.keys(after) as (keyof UpstreamTable)[]) {
    if (LIMIT_COLUMNS.has(column) || before[column] === after[column]) continue;
    changed.add(names[column] ?? column);
  }
  return [...changed];
}

function toUpstream(row: UpstreamRow): Upstream {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind as UpstreamKind,
    url: row.url,
    team: row.team_name,
    classification: row.classification as Upstream['classification'],
    credential:
      row.credential === null ? null : (JSON.parse(row.credential) as CredentialInjection),
    operations: JSON.parse(row.operations) as UpstreamOperation[],
    sensitive: JSON.parse(row.sensitive) as string[],
    timeoutMs: row.timeout_ms,
    maxRequestBytes: row.max_request_bytes,
    maxResponseBytes: row.max_response_bytes,
    recordContent: row.record_content === 1,
    rateLimit:
      row.rate_limit === null
        ? null
        : (JSON.parse(row.rate_limit) as { perSecond: number; burst: number }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function upstreamExists(name: string): StewardError {
  return new StewardError(
    'upstream_exists',
    `An upstream named ${JSON.stringify(name)} already exists.`,
  );
}

/** How long "no such upstream" is remembered, so unknown names do not reach the database per call. */
const MISS_TTL_MS = 1_000;
/** The safety net under the upstream and allowlist notifications. */
const POLL_MS = 5_000;

export function createUpstreamService(deps: {
  store: Store;
  clock: Clock;
  allowlist: EgressAllowlist;
  /** The guard's name resolver; `dns.lookup` unless a test injects one. */
  resolveHost?: HostResolver;
  /** The registry's team names: an upstream carries its team's id, and shows its name. */
  teams: TeamNames;
}): UpstreamService {
  const { store, clock, allowlist, teams } = deps;
  const db = store.db;
  let byName = new Map<string, Upstream>();
  let loaded = false;
  const misses = new Map<string, number>();

  /**
   * `rows` with their teams' names, all at once (from memory once seen: no query then). Every
   * upstream has a team (a foreign key keeps it there), so a missing name is a broken store.
   */
  async function named(
    trx: Kysely<Database>,
    rows: readonly UpstreamTable[],
  ): Promise<UpstreamRow[]> {
    const names = await teams.namesOf(
      trx,
      rows.map((row) => row.team_id),
    );
    return rows.map((row) => {
      const teamName = names.get(row.team_id);
      if (teamName === undefined) {
        throw new Error(`upstream ${row.name} belongs to team id ${row.team_id}, which is no team`);
      }
      return { ...row, team_name: teamName };
    });
  }

  async function selectUpstream(
    trx: Kysely<Database>,
    name: string,
  ): Promise<UpstreamRow | undefined> {
    const row = await trx
      .selectFrom('upstreams')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && (await named(trx, [row]))[0];
  }

  async function findUpstream(trx: Kysely<Database>, name: string): Promise<UpstreamRow> {
    const row = await selectUpstream(trx, name);
    if (!row) throw notFound('upstream', name);
    return row;
  }

  async function reload(): Promise<void> {
    const [rows] = await Promise.all([
      db.selectFrom('upstreams').selectAll().execute(),
      allowlist.reload(),
    ]);
    byName = new Map((await named(db, rows)).map((row) => [row.name, toUpstream(row)]));
    misses.clear();
    loaded = true;
  }

  async function changed(): Promise<void> {
    await reload();
    await store.notifications.publish(UPSTREAMS_CHANNEL, 'upstreams');
  }

  function guard(url: string | URL): Promise<EgressCheck> {
    return checkEgress(
      url,
      allowlist.current(),
      deps.resolveHost ? { resolve: deps.resolveHost } : {},
    );
  }

  async function checkUrl(url: string): Promise<void> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalidField('/body/url', 'must be an absolute http:// or https:// URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw invalidField('/body/url', 'must be an http:// or https:// URL');
    }
    if (parsed.username !== '' || parsed.password !== '') {
      // A credential in the URL would be stored and shown in clear; it belongs in a secret.
      throw invalidField('/body/url', 'must not carry a user or password: use a credential');
    }
    if (parsed.hash !== '') throw invalidField('/body/url', 'must not have a fragment');
    const check = await guard(parsed);
    if (!check.ok) throw new StewardError('egress_refused', `The upstream URL ${check.reason}.`);
  }

  /** The stored credential, with defaults applied; checks that the secret exists and may be used. */
  async function credentialOf(
    trx: Kysely<Database>,
    context: ChangeContext,
    teamId: string,
    input: CredentialInput,
  ): Promise<{ credential: CredentialInjection; secretId: string }> {
    const secret = await loadSecretOwner(trx, { name: input.secret });
    if (!secret)
      throw invalidField(
        '/body/credential/secret',
        `no secret ${JSON.stringify(input.secret)} exists`,
      );
    // Pointing an upstream at a secret sends its value there: only who may manage the secret may.
    if (!canAttachCredential(context.actor, secret.teamId, teamId)) {
      throw forbidden(
        `Secret ${JSON.stringify(input.secret)} belongs to another team (or none); this upstream may not use it.`,
      );
    }
    const name = (input.in === 'bearer' ? 'authorization' : input.name)?.toLowerCase();
    if (name === undefined || name === '') {
      throw invalidField(
        '/body/credential/name',
        `is required when the credential goes in a ${input.in}`,
      );
    }
    if (input.in === 'header' && RESERVED_HEADERS.has(name)) {
      throw invalidField('/body/credential/name', `the gateway owns the ${name} header`);
    }
    const format = input.format ?? (input.in === 'bearer' ? 'Bearer {secret}' : '{secret}');
    if (!format.includes('{secret}')) {
      throw invalidField('/body/credential/format', 'must contain {secret}');
    }
    return {
      credential: {
        secret: input.secret,
        in: input.in,
        name: input.in === 'query' ? (input.name ?? name) : name,
        format,
      },
      secretId: secret.id,
    };
  }

  function operationsOf(
    operations: readonly OperationInput[],
    sensitive: readonly string[],
  ): { operations: UpstreamOperation[]; sensitive: string[] } {
    const seen = new Set<string>();
    for (const [index, op] of operations.entries()) {
      if (seen.has(op.name)) {
        throw invalidField(`/body/operations/${index}/name`, `${op.name} is declared twice`);
      }
      seen.add(op.name);
    }
    // With declared operations a sensitive name outside them is a typo that would leave the real
    // operation unprotected; without (MCP tools discovered at run time) any name may be listed.
    if (operations.length > 0) {
      for (const [index, name] of sensitive.entries()) {
        if (!seen.has(name)) {
          throw invalidField(`/body/sensitive/${index}`, `${name} is not a declared operation`);
        }
      }
    }
    const all = [
      ...new Set([...sensitive, ...operations.filter((op) => op.sensitive).map((op) => op.name)]),
    ].sort();
    return {
      operations: operations.map((op) => ({
        name: op.name,
        ...(op.method === undefined ? {} : { method: op.method.toUpperCase() }),
        ...(op.path === undefined ? {} : { path: op.path }),
        sensitive: all.includes(op.name),
        ...(op.description === undefined ? {} : { description: op.description }),
      })),
      sensitive: all,
    };
  }

  async function teamOf(
    trx: Kysely<Database>,
    name: string,
  ): Promise<{ id: string; name: string }> {
    const id = await teams.idOf(trx, name);
    if (id === undefined) throw notFound('team', name);
    return { id, name };
  }

  /**
   * Refuses a change that moves the credential `next` carries (where or how it is sent, or who may
   * use it) unless the actor may attach that credential: an owner may not re-point an upstream
   * that carries a secret they could not have attached themselves.
   */
  async function mayMoveCredential(
    trx: Kysely<Database>,
    context: ChangeContext,
    row: UpstreamRow,
    next: UpstreamTable,
  ): Promise<void> {
    if (next.credential_secret_id === null) return; // nothing to send: removing one is always fine
    const moved = credentialFieldsChanged(row, next);
    if (moved.length === 0) return;
    const secret = await loadSecretOwner(trx, { id: next.credential_secret_id });
    if (secret !== undefined && canAttachCredential(context.actor, secret.teamId, next.team_id)) {
      return;
    }
    if (secret?.teamId != null && secret.teamId !== next.team_id) {
      const teamName = (await teams.namesOf(trx, [secret.teamId])).get(secret.teamId) ?? null;
      throw forbidden(
        `The upstream's secret belongs to team ${JSON.stringify(teamName)}; give it another credential first.`,
      );
    }
    throw forbidden(
      `Changing ${moved.join(', ')} of upstream ${JSON.stringify(row.name)} changes where its credential (secret ${JSON.stringify(secret?.name ?? '?')}) is sent or who may use it; that takes the right to attach the secret, which this key does not have.`,
    );
  }

  function mayNotManage(team: string): StewardError {
    return forbidden(`This key may not manage upstreams of team ${JSON.stringify(team)}.`);
  }

  return {
    async create(context, input) {
      await checkUrl(input.url);
      let created: Upstream;
      try {
        created = await db.transaction().execute(async (trx) => {
          const team = await teamOf(trx, input.team);
          if (!canManageCredential(context.actor, team.id)) throw mayNotManage(team.name);
          const existing = await trx
            .selectFrom('upstreams')
            .select('id')
            .where('name', '=', input.name)
            .executeTakeFirst();
          if (existing) throw upstreamExists(input.name);
          const credential =
            input.credential == null
              ? null
              : await credentialOf(trx, context, team.id, input.credential);
          const ops = operationsOf(input.operations ?? [], input.sensitive ?? []);
          const nowMs = clock.now();
          const now = isoTime(nowMs);
          const row: UpstreamTable = {
            id: newId(nowMs),
            name: input.name,
            kind: input.kind,
            url: input.url,
            team_id: team.id,
            classification: input.classification,
            credential_secret_id: credential?.secretId ?? null,
            credential: credential === null ? null : JSON.stringify(credential.credential),
            operations: JSON.stringify(ops.operations),
            sensitive: JSON.stringify(ops.sensitive),
            timeout_ms: input.timeoutMs ?? UPSTREAM_LIMITS.timeoutMs.default,
            max_request_bytes: input.maxRequestBytes ?? UPSTREAM_LIMITS.maxRequestBytes.default,
            max_response_bytes: input.maxResponseBytes ?? UPSTREAM_LIMITS.maxResponseBytes.default,
            record_content: input.recordContent === true ? 1 : 0,
            rate_limit: input.rateLimit == null ? null : JSON.stringify(input.rateLimit),
            created_by: context.actor.ref,
            created_at: now,
            updated_at: now,
          };
          await trx.insertInto('upstreams').values(row).execute();
          const upstream = toUpstream({ ...row, team_name: team.name });
          await recordChange(trx, clock, context, {
            type: 'upstream.created',
            targetKind: 'upstream',
            targetId: row.id,
            team: team.name,
            after: upstream,
          });
          return upstream;
        });
      } catch (error) {
        throw isUniqueViolation(error) ? upstreamExists(input.name) : error;
      }
      await changed();
      return created;
    },

    async get(name) {
      return toUpstream(await findUpstream(db, name));
    },

    async list({ team, kind, cursor, limit }) {
      let query = db.selectFrom('upstreams').selectAll();
      // The team is found by name inside this query: no query of its own.
      if (team !== undefined) query = query.where('team_id', '=', teams.idExpression(db, team));
      if (kind !== undefined) query = query.where('kind', '=', kind);
      if (cursor !== undefined)
        query = query.where('name', '>', decodeCursor<string>(cursor, 'string'));
      const rows = await query
        .orderBy('name')
        .limit(limit + 1)
        .execute();
      return toPage(await named(db, rows), limit, (row) => row.name, toUpstream);
    },

    async update(context, name, input) {
      if (input.url !== undefined) await checkUrl(input.url);
      const updated = await db.transaction().execute(async (trx) => {
        const row = await findUpstream(trx, name);
        if (!canManageCredential(context.actor, row.team_id)) throw mayNotManage(row.team_name);
        let team = { id: row.team_id, name: row.team_name };
        if (input.team !== undefined && input.team !== row.team_name) {
          if (context.actor.role === 'owner') {
            throw forbidden('Only an admin or security may move an upstream to another team.');
          }
          team = await teamOf(trx, input.team);
        }
        const before = toUpstream(row);
        let credentialColumns: Pick<UpstreamTable, 'credential' | 'credential_secret_id'> = row;
        if (input.credential === null) {
          credentialColumns = { credential: null, credential_secret_id: null };
        } else if (input.credential !== undefined) {
          const credential = await credentialOf(trx, context, team.id, input.credential);
          credentialColumns = {
            credential: JSON.stringify(credential.credential),
            credential_secret_id: credential.secretId,
          };
        }
        const ops =
          input.operations === undefined && input.sensitive === undefined
            ? undefined
            : operationsOf(
                // A new sensitive list replaces the old marks; new operations carry their own.
                input.operations ?? before.operations.map((op) => ({ ...op, sensitive: false })),
                input.sensitive ?? [],
              );
        const next: UpstreamTable = {
          ...row,
          ...credentialColumns,
          kind: input.kind ?? row.kind,
          url: input.url ?? row.url,
          team_id: team.id,
          classification: input.classification ?? row.classification,
          operations: ops === undefined ? row.operations : JSON.stringify(ops.operations),
          sensitive: ops === undefined ? row.sensitive : JSON.stringify(ops.sensitive),
          timeout_ms: input.timeoutMs ?? row.timeout_ms,
          max_request_bytes: input.maxRequestBytes ?? row.max_request_bytes,
          max_response_bytes: input.maxResponseBytes ?? row.max_response_bytes,
          record_content:
            input.recordContent === undefined ? row.record_content : input.recordContent ? 1 : 0,
          rate_limit:
            input.rateLimit === undefined
              ? row.rate_limit
              : input.rateLimit === null
                ? null
                : JSON.stringify(input.rateLimit),
          updated_at: isoTime(clock.now()),
        };
        await mayMoveCredential(trx, context, row, next);
        const { team_name: _teamName, ...columns } = { ...next, team_name: team.name };
        await trx.updateTable('upstreams').set(columns).where('id', '=', row.id).execute();
        const after = toUpstream({ ...next, team_name: team.name });
        await recordChange(trx, clock, context, {
          type: 'upstream.updated',
          targetKind: 'upstream',
          targetId: row.id,
          team: team.name,
          before,
          after,
        });
        return after;
      });
      await changed();
      return updated;
    },

    async delete(context, name) {
      await db.transaction().execute(async (trx) => {
        const row = await findUpstream(trx, name);
        if (!canManageCredential(context.actor, row.team_id)) throw mayNotManage(row.team_name);
        await trx.deleteFrom('upstreams').where('id', '=', row.id).execute();
        await recordChange(trx, clock, context, {
          type: 'upstream.deleted',
          targetKind: 'upstream',
          targetId: row.id,
          team: row.team_name,
          before: toUpstream(row),
        });
      });
      await changed();
    },

    async resolve(name) {
      if (!loaded) await reload();
      const known = byName.get(name);
      if (known) return known;
      const missedAt = misses.get(name);
      const now = clock.now();
      if (missedAt !== undefined && now - missedAt < MISS_TTL_MS) return undefined;
      // Not in memory: maybe created by another replica a moment ago, before its notification.
      const row = await selectUpstream(db, name);
      if (!row) {
        if (misses.size > 10_000) misses.clear();
        misses.set(name, now);
        return undefined;
      }
      const upstream = toUpstream(row);
      byName.set(name, upstream);
      return upstream;
    },

    checkEgress: guard,
    reload,

    replication: {
      name: 'upstreams',
      channel: UPSTREAMS_CHANNEL,
      refresh: reload,
      pollMs: POLL_MS,
    },
  };
}

/** The upstreams that send each of `secretIds` as their credential, ordered by upstream name. */
export async function credentialUsers(
  source: Kysely<Database>,
  secretIds: readonly string[],
): Promise<{ secretId: string; upstream: string }[]> {
  if (secretIds.length === 0) return [];
  const rows = await source
    .selectFrom('upstreams')
    .select(['credential_secret_id', 'name'])
    .where('credential_secret_id', 'in', [...secretIds])
    .orderBy('name')
    .execute();
  return rows.map((row) => ({ secretId: row.credential_secret_id ?? '', upstream: row.name }));
}
