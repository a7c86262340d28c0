/**
 * The MCP gateway: `/gw/mcp/<upstream>` speaks MCP Streamable HTTP to agents and to the upstream
 * MCP server, with every method decided by the enforcement core. Named exports only.
 */
export { mcpGatewayRoutes } from './routes.js';
export type { McpRouteOptions } from './routes.js';
export { handleMcpRequest } from './server.js';
export type { McpGatewayDeps, McpRequestContext } from './server.js';
export type { RefusalData } from './errors.js';
export {
  protectedResourceMetadata,
  resourceMetadataUrl,
  mcpResourceUrl,
  bearerChallenge,
} from './metadata.js';
export type { ProtectedResourceMetadata } from './metadata.js';
export { egressGuardedFetch } from './egress.js';
export {
  createUpstreamPool,
  DEFAULT_MAX_POOLED_CLIENTS,
  DEFAULT_POOL_IDLE_MS,
} from './upstream-pool.js';
export type { UpstreamCallTarget, UpstreamPool, UpstreamPoolOptions } from './upstream-pool.js';
