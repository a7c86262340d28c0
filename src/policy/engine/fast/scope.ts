/**
 * Policy scopes (`principal`, `action`, `resource` constraints) and the index over them. A policy
 * is filed under one key per dimension: its bound entity for `==`/`in`/`is … in`, its type for a
 * bare `is`, or `*`. A request looks up with its entities, their ancestors, their types and `*`,
 * which finds every policy whose scope can hold: the slicing argument of cedar-lean
 * `Cedar/Thm/PolicySlice.lean`. A precise scope check still runs on each candidate.
 */
import { entityIn } from './compile.js';
import type { Env } from './compile.js';
import { EntityRef, UnsupportedData, toEntityRef } from './values.js';

/** A compiled scope constraint on one variable, with the index keys it is filed under. */
export interface ScopeCheck {
  readonly keys: readonly string[];
  readonly test: (e: EntityRef, store: Env['store']) => boolean;
  /** True when the constraint is `any`: every request matches. */
  readonly any: boolean;
}

/** The index key of any entity value of the dimension. */
export const ANY_KEY = '*';
/** The index key of an entity (for `==`, `in`, `is … in`). */
export function entityIndexKey(e: EntityRef): string {
  return `E${e.key}`;
}
/** The index key of an entity type (for a bare `is`). */
export function typeIndexKey(type: string): string {
  return `T${type}`;
}

function uidOf(x: unknown): EntityRef {
  try {
    return toEntityRef(x);
  } catch (e) {
    if (e instanceof UnsupportedData) throw new UnsupportedData('scope entity');
    throw e;
  }
}

/**
 * Compiles a principal or resource constraint from the EST.
 * @throws UnsupportedData for a shape it does not know (slots, for instance).
 */
export function compileScope(raw: unknown): ScopeCheck {
  if (typeof raw !== 'object' || raw === null) throw new UnsupportedData('scope');
  const c = raw as Readonly<Record<string, unknown>>;
  switch (c['op']) {
    case 'All':
      return { keys: [ANY_KEY], test: () => true, any: true };
    case '==': {
      if (!('entity' in c)) throw new UnsupportedData('scope slot');
      const target = uidOf(c['entity']);
      return { keys: [entityIndexKey(target)], test: (e) => e.key === target.key, any: false };
    }
    case 'in': {
      if ('entities' in c) {
        // Only the action scope has this form: `action in [A, B]`.
        const list = c['entities'];
        if (!Array.isArray(list)) throw new UnsupportedData('scope list');
        const targets = list.map(uidOf);
        return {
          keys: targets.map(entityIndexKey),
          test: (e, store) => targets.some((t) => entityIn(e, t, store)),
          any: false,
        };
      }
      if (!('entity' in c)) throw new UnsupportedData('scope slot');
      const target = uidOf(c['entity']);
      return {
        keys: [entityIndexKey(target)],
        test: (e, store) => entityIn(e, target, store),
        any: false,
      };
    }
    case 'is': {
      const type = c['entity_type'];
      if (typeof type !== 'string') throw new UnsupportedData('scope type');
      const inner = c['in'];
      if (inner === undefined) {
        return { keys: [typeIndexKey(type)], test: (e) => e.type === type, any: false };
      }
      if (typeof inner !== 'object' || inner === null || !('entity' in inner)) {
        throw new UnsupportedData('scope slot');
      }
      const target = uidOf(inner.entity);
      return {
        keys: [entityIndexKey(target)],
        test: (e, store) => e.type === type && entityIn(e, target, store),
        any: false,
      };
    }
    default:
      throw new UnsupportedData('scope operator');
  }
}

/**
 * A three-level map (principal key → resource key → action key → items). Lookups probe only the
 * keys a request can match, so the work is proportional to the slice, not to the policy count.
 */
export class ScopeIndex<T> {
  private readonly root = new Map<string, Map<string, Map<string, T[]>>>();

  add(pKeys: readonly string[], rKeys: readonly string[], aKeys: readonly string[], item: T) {
    for (const p of pKeys) {
      let byR = this.root.get(p);
      if (byR === undefined) this.root.set(p, (byR = new Map<string, Map<string, T[]>>()));
      for (const r of rKeys) {
        let byA = byR.get(r);
        if (byA === undefined) byR.set(r, (byA = new Map<string, T[]>()));
        for (const a of aKeys) {
          const list = byA.get(a);
          if (list === undefined) byA.set(a, [item]);
          else list.push(item);
        }
      }
    }
  }

  /** Calls `visit` for each item filed under any combination of the given keys (maybe twice). */
  forEach(
    pKeys: readonly string[],
    rKeys: readonly string[],
    aKeys: readonly string[],
    visit: (item: T) => void,
  ): void {
    for (const p of pKeys) {
      const byR = this.root.get(p);
      if (byR === undefined) continue;
      for (const r of rKeys) {
        const byA = byR.get(r);
        if (byA === undefined) continue;
        for (const a of aKeys) {
          const list = byA.get(a);
          if (list === undefined) continue;
          for (const item of list) visit(item);
        }
      }
    }
  }
}
