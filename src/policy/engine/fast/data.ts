/**
 * Reads Cedar's JSON format (entity attributes and tags, request contexts, policy literals) into
 * runtime values. Only the plainly valid subset is read; anything else throws `UnsupportedData`
 * and the official engine answers instead, with its own verdict on such data.
 */
import { EXTENSIONS, EvalError } from './functions.js';
import { CRecord, CSet, MAX_VALUE_DEPTH, UnsupportedData, toEntityRef } from './values.js';
import type { Value } from './values.js';

/**
 * A UTF-16 surrogate outside a pair. Cedar strings are Unicode: the official engine refuses such
 * data, so it is left to it rather than decided here.
 */
const LONE_SURROGATE = /\p{Cs}/u;

/** An `__extn` value: a known function applied to converted arguments, or unsupported. */
function extension(fn: unknown, args: readonly unknown[], depth: number): Value {
  const impl = typeof fn === 'string' && Object.hasOwn(EXTENSIONS, fn) ? EXTENSIONS[fn] : undefined;
  if (impl === undefined || impl[0] !== args.length) throw new UnsupportedData('__extn function');
  try {
    const v = impl[1](args.map((a) => fromJson(a, depth)));
    // Only constructors and value-producing calls make data; a boolean is not an extension value.
    if (typeof v !== 'object') throw new UnsupportedData('__extn result');
    return v;
  } catch (e) {
    if (e instanceof EvalError) throw new UnsupportedData('__extn value');
    throw e;
  }
}

/**
 * Converts a value in Cedar's JSON format. Anything outside the plainly valid subset (nulls,
 * fractions, unsafe integers, unknown escapes, invalid extension literals) throws
 * `UnsupportedData`, and the request is then answered by the official engine, which gives its
 * own verdict on such data. So do strings with a lone surrogate and data nested deeper than
 * {@link MAX_VALUE_DEPTH}.
 */
export function fromJson(json: unknown, depth = 0): Value {
  switch (typeof json) {
    case 'boolean':
      return json;
    case 'string':
      if (LONE_SURROGATE.test(json)) throw new UnsupportedData('lone surrogate');
      return json;
    case 'number':
      if (!Number.isSafeInteger(json)) throw new UnsupportedData('number');
      return BigInt(json);
    case 'object': {
      if (json === null) throw new UnsupportedData('null');
      if (depth >= MAX_VALUE_DEPTH) throw new UnsupportedData('nesting');
      if (Array.isArray(json)) return new CSet(json.map((j: unknown) => fromJson(j, depth + 1)));
      const o = json as Record<string, unknown>;
      if ('__entity' in o) {
        if (Object.keys(o).length !== 1) throw new UnsupportedData('__entity');
        return toEntityRef(o);
      }
      if ('__extn' in o) {
        const e = o['__extn'] as Record<string, unknown> | null;
        if (Object.keys(o).length !== 1 || typeof e !== 'object' || e === null) {
          throw new UnsupportedData('__extn');
        }
        const keys = Object.keys(e);
        if (keys.length === 2 && 'fn' in e && 'arg' in e) {
          return extension(e['fn'], [e['arg']], depth + 1);
        }
        if (keys.length === 2 && 'fn' in e && Array.isArray(e['args'])) {
          return extension(e['fn'], e['args'] as unknown[], depth + 1);
        }
        throw new UnsupportedData('__extn');
      }
      if ('__expr' in o) throw new UnsupportedData('__expr');
      return recordFromJson(o, depth);
    }
    default:
      throw new UnsupportedData(typeof json);
  }
}

/** Converts a JSON object to a record (used for attributes, tags and the context). */
export function recordFromJson(o: unknown, depth = 0): CRecord {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new UnsupportedData('record');
  }
  const map = new Map<string, Value>();
  for (const [k, v] of Object.entries(o)) {
    if (LONE_SURROGATE.test(k)) throw new UnsupportedData('lone surrogate');
    map.set(k, fromJson(v, depth + 1));
  }
  return new CRecord(map);
}
