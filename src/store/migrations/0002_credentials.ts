import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Short-lived credentials: signing keys, join tokens, federation trusts, tasks, the token
 * inventory and revocations.
 */
export function credentials(dialect: Dialect) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('identities')
        .addColumn('max_session_seconds', 'integer', (c) => c.notNull().defaultTo(28800))
        .execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('private_key', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('activates_at', time, (c) => c.notNull())
        .addColumn('revoked_at', time)
        .execute();

      await db.schema
        .createTable('join_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('identity_id', 'text', (c) => c.notNull().references('identities.id'))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('expires_at', time, (c) => c.notNull())
        .addColumn('used_at', time)
        .addColumn('used_from', 'text')
        .execute();
      await db.schema
        .createIndex('join_tokens_identity')
        .on('join_tokens')
        .columns(['identity_id'])
        .execute();

      await db.schema
        .createTable('federation_trusts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('jwks_uri', 'text')
        .addColumn('jwks', 'text')
        .addColumn('audience', 'text', (c) => c.notNull())
        .addColumn('conditions', 'text', (c) => c.notNull())
        .addColumn('identity_id', 'text', (c) => c.notNull().references('identities.id'))
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('federation_trusts_issuer')
        .on('federation_trusts')
        .columns(['issuer'])
        .execute();

      await db.schema
        .createTable('tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('identity_id', 'text', (c) => c.notNull().references('identities.id'))
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('deadline_at', time, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('closed_at', time)
        .addColumn('closed_by', 'text')
        .execute();
      await db.schema
        .createIndex('tasks_open_deadline')
        .on('tasks')
        .columns(['status', 'deadline_at'])
        .execute();
      await db.schema
        .createIndex('tasks_identity')
        .on('tasks')
        .columns(['identity_id', 'id'])
        .execute();

      await db.schema
        .createTable('tokens')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('identity_id', 'text', (c) => c.notNull().references('identities.id'))
        .addColumn('audience', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text')
        .addColumn('attestation', 'text', (c) => c.notNull())
        .addColumn('parent_jti', 'text')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('kid', 'text', (c) => c.notNull())
        .addColumn('issued_at', time, (c) => c.notNull())
        .addColumn('expires_at', time, (c) => c.notNull())
        .addColumn('session_expires_at', time, (c) => c.notNull())
        .addColumn('client_address', 'text')
        .addColumn('actor', 'text')
        .execute();
      for (const column of ['identity_id', 'task_id', 'session_id']) {
        await db.schema
          .createIndex(`tokens_${column}`)
          .on('tokens')
          .columns([column, 'jti'])
          .execute();
      }
      await db.schema.createIndex('tokens_expires').on('tokens').columns(['expires_at']).execute();

      await db.schema
        .createTable('revocations')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('revoked_at', time, (c) => c.notNull())
        .addColumn('expires_at', time, (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('revoked_by', 'text', (c) => c.notNull())
        .addUniqueConstraint('revocations_kind_subject', ['kind', 'subject'])
        .execute();
      await db.schema
        .createIndex('revocations_expires')
        .on('revocations')
        .columns(['expires_at'])
        .execute();
    },
  };
}
