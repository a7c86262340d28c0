import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { invalidField, notFound, StewardError } from '../errors/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation, type Store } from '../store/index.js';
import type { EgressAllowTable } from '../store/schema.js';
import { normalizeAllowEntry } from './egress.js';

/** The notification channel on which upstream and allowlist changes are announced. */
export const UPSTREAMS_CHANNEL = 'steward_upstreams';

/** An address or network an admin allowed upstreams to reach. */
export interface EgressAllow {
  readonly id: string;
  /** Canonical CIDR (`127.0.0.1/32`). */
  readonly address: string;
  readonly reason: string;
  readonly createdBy: string;
  readonly createdAt: string;
}

export interface EgressAllowlist {
  /** The allowed networks as held in memory, for the guard on the gateway's path. */
  current(): readonly string[];
  allow(context: ChangeContext, input: { address: string; reason: string }): Promise<EgressAllow>;
  list(): Promise<EgressAllow[]>;
  /** Removes an entry by id or by address. Upstreams already registered are not re-checked here; the gateway's connect-time check refuses them from now on. */
  remove(context: ChangeContext, idOrAddress: string): Promise<void>;
  reload(): Promise<void>;
}

function toAllow(row: EgressAllowTable): EgressAllow {
  return {
    id: row.id,
    address: row.address,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

export function createEgressAllowlist(deps: { store: Store; clock: Clock }): EgressAllowlist {
  const { store, clock } = deps;
  const db = store.db;
  let entries: readonly string[] = [];

  async function reload(): Promise<void> {
    const rows = await db.selectFrom('egress_allowlist').select('address').execute();
    entries = rows.map((row) => row.address);
  }

  async function changed(): Promise<void> {
    await reload();
    await store.notifications.publish(UPSTREAMS_CHANNEL, 'egress');
  }

  return {
    current: () => entries,
    reload,

    async allow(context, input) {
      let address: string;
      try {
        address = normalizeAllowEntry(input.address);
      } catch {
        throw invalidField('/body/address', 'must be an IPv4 or IPv6 address, or a CIDR network');
      }
      let created: EgressAllow;
      try {
        created = await db.transaction().execute(async (trx) => {
          const existing = await trx
            .selectFrom('egress_allowlist')
            .select('id')
            .where('address', '=', address)
            .executeTakeFirst();
          if (existing) throw alreadyAllowed(address);
          const now = clock.now();
          const row: EgressAllowTable = {
            id: newId(now),
            address,
            reason: input.reason,
            created_by: context.actor.ref,
            created_at: isoTime(now),
          };
          await trx.insertInto('egress_allowlist').values(row).execute();
          const allow = toAllow(row);
          await recordChange(trx, clock, context, {
            type: 'egress.allowed',
            targetKind: 'egress_allow',
            targetId: row.id,
            after: allow,
          });
          return allow;
        });
      } catch (error) {
        throw isUniqueViolation(error) ? alreadyAllowed(address) : error;
      }
      await changed();
      return created;
    },

    async list() {
      const rows = await db.selectFrom('egress_allowlist').selectAll().orderBy('address').execute();
      return rows.map(toAllow);
    },

    async remove(context, idOrAddress) {
      let address: string | undefined;
      try {
        address = normalizeAllowEntry(idOrAddress);
      } catch {
        address = undefined;
      }
      await db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('egress_allowlist')
          .selectAll()
          .where(address === undefined ? 'id' : 'address', '=', address ?? idOrAddress)
          .executeTakeFirst();
        if (!row) throw notFound('egress allowlist entry', idOrAddress);
        await trx.deleteFrom('egress_allowlist').where('id', '=', row.id).execute();
        await recordChange(trx, clock, context, {
          type: 'egress.removed',
          targetKind: 'egress_allow',
          targetId: row.id,
          before: toAllow(row),
        });
      });
      await changed();
    },
  };
}

function alreadyAllowed(address: string): StewardError {
  return new StewardError('conflict', `${address} is already on the egress allowlist.`);
}
