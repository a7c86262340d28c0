/**
 * `@steward/sdk`: what agents and scripts need to talk to Steward, with no dependency on the
 * server. Every export here is public API.
 */
export { StewardClient } from './client.js';
export type { StewardClientOptions, Query } from './client.js';
export { StewardApiError, StewardUnreachableError } from './errors.js';
