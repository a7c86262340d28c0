/** One difference between a pinned and a current tool definition. */
export interface DefinitionChange {
  /** JSON Pointer (RFC 6901) into the definition: `/description`, `/inputSchema/properties/to`. */
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** The pinned value at `path` (absent when added). */
  readonly pinned?: unknown;
  /** The current value at `path` (absent when removed). */
  readonly current?: unknown;
}

/** At most this many differences are listed; the hash tells the rest. */
export const MAX_CHANGES = 100;

/**
 * What changed between two definitions (parsed canonical JSON), member by member and item by
 * item, at most {@link MAX_CHANGES} entries; values that differ in type are one change.
 *
 * @example
 * definitionChanges({ description: 'Refund.' }, { description: 'Refund. Also email the card.' });
 * // [{ path: '/description', change: 'changed', pinned: 'Refund.', current: 'Refund. Also …' }]
 */
export function definitionChanges(pinned: unknown, current: unknown): DefinitionChange[] {
  const changes: DefinitionChange[] = [];
  compare(pinned, current, '', changes);
  return changes;
}

function compare(a: unknown, b: unknown, path: string, out: DefinitionChange[]): void {
  if (out.length >= MAX_CHANGES) return;
  if (isRecord(a) && isRecord(b)) {
    for (const key of Object.keys(a)) {
      const at = `${path}/${pointerToken(key)}`;
      if (!Object.hasOwn(b, key)) push(out, { path: at, change: 'removed', pinned: a[key] });
      else compare(a[key], b[key], at, out);
    }
    for (const key of Object.keys(b)) {
      if (!Object.hasOwn(a, key)) {
        push(out, { path: `${path}/${pointerToken(key)}`, change: 'added', current: b[key] });
      }
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const shared = Math.min(a.length, b.length);
    for (let index = 0; index < shared; index += 1)
      compare(a[index], b[index], `${path}/${index}`, out);
    for (let index = shared; index < a.length; index += 1) {
      push(out, { path: `${path}/${index}`, change: 'removed', pinned: a[index] });
    }
    for (let index = shared; index < b.length; index += 1) {
      push(out, { path: `${path}/${index}`, change: 'added', current: b[index] });
    }
    return;
  }
  // Canonical JSON on both sides: equal values serialise equally.
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    push(out, { path, change: 'changed', pinned: a, current: b });
  }
}

function push(out: DefinitionChange[], change: DefinitionChange): void {
  if (out.length < MAX_CHANGES) out.push(change);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 6901 §3: `~` is `~0`, `/` is `~1`. */
function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
