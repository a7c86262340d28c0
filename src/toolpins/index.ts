/**
 * Pinned MCP tool definitions (the defence against an MCP server's "rug pull"): each tool's
 * definition is pinned by the SHA-256 of its RFC 8785 canonical JSON when its upstream is first
 * listed; a later change raises a finding and, by default, keeps the tool from agents until its
 * team accepts it. This folder owns the `tool_pin_upstreams` and `tool_pins` tables. Named
 * exports only; everything else in this folder is private to it.
 */
export { canonicalJson, CanonicalJsonError } from './canonical-json.js';
export { fingerprint, MAX_DEFINITION_BYTES, PINNED_FIELDS } from './definition.js';
export type { ToolFingerprint } from './definition.js';
export type { DefinitionChange } from './diff.js';
export {
  createToolPinService,
  ON_CHANGE_MODES,
  servedUnder,
  toolStanding,
  TOOL_CHANGE_MAPPING,
} from './pins.js';
export type {
  ObservedTools,
  OnChange,
  PinnedUpstream,
  PinState,
  ToolPinService,
  ToolPinsView,
  ToolPinView,
  ToolStanding,
} from './pins.js';
