import type { Migration, MigrationProvider } from 'kysely';
import type { Dialect } from '../dialect.js';
import { registry } from './0001_registry.js';
import { credentials } from './0002_credentials.js';
import { policies } from './0003_policies.js';
import { gateway } from './0004_gateway.js';
import { secretExposure } from './0005_secret_exposure.js';
import { toolPins } from './0006_tool_pins.js';
import { mcpSessions } from './0007_mcp_sessions.js';
import { clientRequestId } from './0008_client_request_id.js';

/**
 * Every migration, in order. Names sort lexically; Kysely runs the pending ones on start, under a
 * lock on PostgreSQL so that replicas starting together migrate once.
 */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '0001_registry': registry(dialect),
    '0002_credentials': credentials(dialect),
    '0003_policies': policies(dialect),
    '0004_gateway': gateway(dialect),
    '0005_secret_exposure': secretExposure(dialect),
    '0006_tool_pins': toolPins(dialect),
    '0007_mcp_sessions': mcpSessions(dialect),
    '0008_client_request_id': clientRequestId(),
  };
  return { getMigrations: () => Promise.resolve(migrations) };
}
