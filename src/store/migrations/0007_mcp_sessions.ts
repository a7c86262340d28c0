import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * The MCP gateway's agent-facing sessions, so that any replica serves any request of a session:
 * who it belongs to, what the agent declared at `initialize`, and the upstream session it shares;
 * and the mailbox that hands an agent's answer (to an elicitation, say) or cancellation to the
 * replica whose upstream call waits for it.
 */
export function mcpSessions(dialect: Dialect) {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('mcp_sessions')
        // SHA-256 of the session id, hex: the id itself, a bearer of the session, is never stored.
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('identity_id', 'text', (c) => c.notNull())
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('capabilities', 'text', (c) => c.notNull())
        .addColumn('protocol_version', 'text', (c) => c.notNull())
        .addColumn('upstream_session_id', 'text')
        .addColumn('upstream_protocol_version', 'text')
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('expires_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('mcp_sessions_identity')
        .on('mcp_sessions')
        .columns(['identity_id', 'upstream', 'expires_at'])
        .execute();
      await db.schema
        .createIndex('mcp_sessions_expires')
        .on('mcp_sessions')
        .column('expires_at')
        .execute();

      await db.schema
        .createTable('mcp_session_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // `<session hash> <kind> <JSON-RPC id>`: what the message answers, within its session.
        .addColumn('mailbox', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('expires_at', time, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('mcp_session_messages_mailbox')
        .on('mcp_session_messages')
        .column('mailbox')
        .execute();
      await db.schema
        .createIndex('mcp_session_messages_expires')
        .on('mcp_session_messages')
        .column('expires_at')
        .execute();
    },
  };
}
