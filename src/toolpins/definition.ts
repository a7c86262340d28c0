import { createHash } from 'node:crypto';
import { canonicalJson, CanonicalJsonError } from './canonical-json.js';

/**
 * What of an MCP tool is pinned: everything an agent's model reads or that shapes what the tool
 * accepts and returns. `_meta` and `icons` are left out: they are the server's bookkeeping and
 * pictures, and would turn every cosmetic change into a finding.
 */
export const PINNED_FIELDS = [
  'name',
  'title',
  'description',
  'inputSchema',
  'outputSchema',
  'annotations',
] as const;

/** A definition larger than this (canonical JSON, bytes) is not pinned: the tool stays hidden. */
export const MAX_DEFINITION_BYTES = 64 * 1024;

const UNSTORABLE =
  /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** One tool's definition as pinned: its canonical JSON and the SHA-256 of it (hex). */
export interface ToolFingerprint {
  readonly hash: string;
  readonly definition: string;
}

/**
 * The fingerprint of an MCP tool as an upstream listed it (`tools/list`), or undefined when it
 * has none: a name with a control character or a lone surrogate, not canonical JSON (nested too
 * deep), or over {@link MAX_DEFINITION_BYTES}. A tool
 * without one cannot be pinned, so it is never served.
 *
 * @example
 * fingerprint({ name: 'refund', description: 'Refund an order.', inputSchema: { type: 'object' } })
 *   ?.hash; // 64 hex digits, the same for any member order or number spelling
 */
export function fingerprint(tool: Readonly<Record<string, unknown>>): ToolFingerprint | undefined {
  // A name that cannot be stored as written (a control character, half a surrogate pair) would
  // be pinned under another spelling.
  if (typeof tool['name'] !== 'string' || UNSTORABLE.test(tool['name'])) return undefined;
  const pinned: Record<string, unknown> = {};
  for (const field of PINNED_FIELDS) {
    if (tool[field] !== undefined) pinned[field] = tool[field];
  }
  let definition: string;
  try {
    definition = canonicalJson(pinned);
  } catch (error) {
    if (error instanceof CanonicalJsonError) return undefined;
    throw error;
  }
  if (Buffer.byteLength(definition) > MAX_DEFINITION_BYTES) return undefined;
  return { hash: createHash('sha256').update(definition).digest('hex'), definition };
}
