import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Cedar policy sets, versioned: every write is a new row and the current set is the highest
 * version, so a rollback is a new version with old text and the history is never rewritten.
 */
export function policies(dialect: Dialect) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('policy_versions')
        .addColumn('version', 'integer', (c) => c.primaryKey())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('policy_count', 'integer', (c) => c.notNull())
        .addColumn('author', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('rolled_back_from', 'integer')
        .addColumn('created_at', time, (c) => c.notNull())
        .execute();
    },
  };
}
