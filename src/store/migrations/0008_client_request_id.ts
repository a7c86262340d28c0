import type { Kysely } from 'kysely';

/**
 * The caller's own request id, kept beside Steward's: from now on `request_id` is always the id
 * Steward made, so a client can no longer choose the id its actions are filed under.
 */
export function clientRequestId() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('audit_events').addColumn('client_request_id', 'text').execute();
    },
  };
}
