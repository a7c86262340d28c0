/**
 * The MCP gateway's catalog: what each upstream lists (tools, prompts, resources and resource
 * templates), per replica and calling identity, so that a call is forwarded only under a name
 * the upstream lists exactly as it lists it, and a tool only with its accepted definition (see
 * `src/toolpins/`). Named exports only.
 */
export {
  createMcpCatalog,
  DEFAULT_LISTING_TTL_MS,
  DEFAULT_MAX_LISTINGS,
  LISTING_LIMITS,
} from './catalog.js';
export type { CatalogKind, McpCatalog, McpCatalogOptions } from './catalog.js';
export { inNormalForm, MAX_TEMPLATED_URI_LENGTH } from './resource-uri.js';
export { compileTemplate, matchesAnyTemplate, MATCH_BUDGET } from './uri-template.js';
export type { CompiledTemplate } from './uri-template.js';
