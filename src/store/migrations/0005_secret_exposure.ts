import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * When the gateway saw a secret's current value come back from an upstream (an upstream that
 * echoes its request hands the injected credential to the agent): the secret is due for
 * rotation from then on, and a rotation clears the mark. Null: never seen.
 */
export function secretExposure(dialect: Dialect) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('secrets').addColumn('exposed_at', time).execute();
    },
  };
}
