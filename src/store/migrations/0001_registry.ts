import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * The foundation: registry, admin API keys, change record.
 *
 * Forward-only: a released migration is never edited; a change is a new migration.
 */
export function registry(dialect: Dialect) {
  // PostgreSQL gets real timestamps and identity columns; SQLite gets text and INTEGER PRIMARY KEY.
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('teams')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('contact', 'text', (c) => c.notNull())
        .addColumn('escalation', 'text', (c) => c.notNull())
        .addColumn('on_call', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('people')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('team_role', 'text', (c) => c.notNull())
        .addColumn('active', 'integer', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('people_team').on('people').columns(['team_id', 'id']).execute();

      await db.schema
        .createTable('services')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('team_id', 'text', (c) => c.notNull().references('teams.id'))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('data_classification', 'text', (c) => c.notNull())
        .addColumn('runbook_url', 'text', (c) => c.notNull())
        .addColumn('rollback_plan', 'text', (c) => c.notNull())
        .addColumn('admitted_environments', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('services_team')
        .on('services')
        .columns(['team_id', 'id'])
        .execute();

      await db.schema
        .createTable('identities')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('service_id', 'text', (c) => c.notNull().references('services.id'))
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('agent_path', 'text', (c) => c.notNull())
        .addColumn('spiffe_id', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('status_reason', 'text')
        .addColumn('status_changed_by', 'text')
        .addColumn('status_changed_at', time)
        .addColumn('max_token_ttl_seconds', 'integer', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .addColumn('last_used_at', time)
        // A SPIFFE ID is never reused, even after decommissioning: old tokens, policies and
        // audit records that name it must keep meaning the same workload.
        .addUniqueConstraint('identities_service_env_path', [
          'service_id',
          'environment',
          'agent_path',
        ])
        .execute();
      await db.schema
        .createIndex('identities_service')
        .on('identities')
        .columns(['service_id', 'environment', 'id'])
        .execute();
      await db.schema
        .createIndex('identities_status')
        .on('identities')
        .columns(['status', 'id'])
        .execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('team_id', 'text', (c) => c.references('teams.id'))
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('key_prefix', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('expires_at', time)
        .addColumn('revoked_at', time)
        .addColumn('revoked_by', 'text')
        .addColumn('last_used_at', time)
        .execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('occurred_at', time, (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('actor_role', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('target_kind', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('team', 'text')
        .addColumn('service', 'text')
        .addColumn('identity_id', 'text')
        .addColumn('before', 'text')
        .addColumn('after', 'text')
        .execute();
      for (const column of ['type', 'team', 'service', 'identity_id', 'occurred_at', 'actor']) {
        await db.schema
          .createIndex(`audit_events_${column}`)
          .on('audit_events')
          .columns([column, 'seq'])
          .execute();
      }
    },
  };
}
