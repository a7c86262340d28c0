import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Sets the marker `key` of the store's `meta` table to `value` unless it is already set, and says
 * whether this call set it. In a transaction, it makes a one-time step (the first admin key)
 * happen once per database, even when several replicas start together: the loser of the insert
 * race sees the conflict and gets `false`.
 */
export async function claimMarker(
  trx: Kysely<Database>,
  key: string,
  value: string,
): Promise<boolean> {
  const result = await trx
    .insertInto('meta')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}
