import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * The gateway's registry: secrets (sealed values, one row per version), upstreams, the egress
 * allowlist, and which master key wrapped each signing key (so that a master-key rotation knows
 * what is left to re-wrap).
 */
export function gateway(dialect: Dialect) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // Null for keys made before this migration: the next start finds out which key opens them.
      await db.schema.alterTable('signing_keys').addColumn('wrapped_by', 'text').execute();

      await db.schema
        .createTable('secrets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('team_id', 'text', (c) => c.references('teams.id'))
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('rotation_period_seconds', 'integer')
        .addColumn('current_version', 'integer', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .addColumn('last_rotated_at', time, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('secret_versions')
        .addColumn('secret_id', 'text', (c) => c.notNull().references('secrets.id'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('ciphertext', 'text', (c) => c.notNull())
        .addColumn('data_key', 'text', (c) => c.notNull())
        .addColumn('wrapped_by', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addPrimaryKeyConstraint('secret_versions_pk', ['secret_id', 'version'])
        .execute();
      await db.schema
        .createIndex('secret_versions_wrapped_by')
        .on('secret_versions')
        .column('wrapped_by')
        .execute();

      await db.schema
        .createTable('upstreams')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
        .addColumn('classification', 'text', (c) => c.notNull())
        // The foreign key is the last line of defence behind the "secret in use" check.
        .addColumn('credential_secret_id', 'text', (c) => c.references('secrets.id'))
        .addColumn('credential', 'text')
        .addColumn('operations', 'text', (c) => c.notNull())
        .addColumn('sensitive', 'text', (c) => c.notNull())
        .addColumn('timeout_ms', 'integer', (c) => c.notNull())
        .addColumn('max_request_bytes', 'integer', (c) => c.notNull())
        .addColumn('max_response_bytes', 'integer', (c) => c.notNull())
        .addColumn('record_content', 'integer', (c) => c.notNull())
        .addColumn('rate_limit', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('upstreams_secret')
        .on('upstreams')
        .column('credential_secret_id')
        .execute();

      await db.schema
        .createTable('egress_allowlist')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('address', 'text', (c) => c.notNull().unique())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .execute();
    },
  };
}
