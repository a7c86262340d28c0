/**
 * The gateway: the enforcement core that both the HTTP and the MCP gateway call, and the HTTP
 * gateway's route. Named exports only; everything else in this folder is private to it.
 */
export type {
  EnforcementCore,
  GatewayCall,
  GatewayRefused,
  GatewayVerdict,
  GatewayOutcome,
} from './types.js';
export { REFUSAL_CATALOG } from './refusals.js';
export type { GatewayRefusal, McpOnlyRefusal, RefusalCode, RefusalSpec } from './refusals.js';
export { createEnforcementCore, gatewayAudience, upstreamAudiences } from './core.js';
export type { EnforcementDeps } from './core.js';
export {
  ARGUMENT_BOUNDS,
  checkArgumentBounds,
  createRateLimiter,
  checkJsonTextBounds,
  DEFAULT_LIMITS,
} from './limits.js';
export type {
  ArgumentBounds,
  BoundsViolation,
  JsonTextBounds,
  RateLimit,
  RateLimiter,
  RateDecision,
} from './limits.js';
export { scanText, scanValue } from './scanner.js';
export type { CredentialKind, CredentialMatch, ScanResult } from './scanner.js';
export { createOtlpTracer, noopTracer, parseTraceparent } from './tracing.js';
export type { GatewaySpan, GatewayTracer } from './tracing.js';
export { httpGatewayRoutes } from './http/route.js';
export { createEgressAgent } from './http/forward.js';
export type { HttpGatewayOptions } from './http/route.js';
export { parseGatewayTarget, matchOperation } from './http/path.js';
export type { GatewayTarget, TargetResult } from './http/path.js';
export { mcpGatewayRoutes, egressGuardedFetch } from './mcp/index.js';
