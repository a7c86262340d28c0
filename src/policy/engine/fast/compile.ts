/**
 * Compiles a policy's condition, given as the official engine's JSON EST (`policyToJson`), to a
 * tree of closures over the runtime values of `values.ts`. The semantics follow the Lean
 * specification (cedar-lean `Cedar/Spec/Evaluator.lean`, `ExtFun.lean`): errors are thrown as
 * `EvalError` (`functions.ts`) and make the policy "errored"; `&&`, `||` and `if` short-circuit. An EST node this
 * compiler does not know throws `NotCompiled`, and the policy is then left to the official engine.
 */
import { Datetime, Duration } from './extensions.js';
import {
  EXTENSIONS,
  EvalError,
  asBool,
  asEntity,
  asLong,
  asSet,
  asString,
  checked,
  typeError,
} from './functions.js';
import { fromJson } from './data.js';
import {
  CRecord,
  CSet,
  EntityRef,
  UnsupportedData,
  typeName,
  valueEquals as valueEq,
} from './values.js';
import type { Value } from './values.js';

/** What the store knows of one entity; `ancestors` is transitive, keyed by `entityKey`. */
export interface EntityData {
  readonly attrs: ReadonlyMap<string, Value>;
  readonly ancestors: ReadonlySet<string>;
  readonly tags: ReadonlyMap<string, Value>;
}

/** One request's evaluation environment. */
export interface Env {
  readonly principal: EntityRef;
  readonly action: EntityRef;
  readonly resource: EntityRef;
  readonly context: CRecord;
  readonly store: ReadonlyMap<string, EntityData>;
}

/** A compiled expression. */
export type Compiled = (env: Env) => Value;

/** An EST construct this compiler does not handle; the policy falls back to the official engine. */
export class NotCompiled extends Error {}

const EMPTY_SET: ReadonlySet<string> = new Set();

/** `a in b` over entities: equal, or `b` among `a`'s ancestors (Lean `inₑ`). */
export function entityIn(a: EntityRef, b: EntityRef, store: Env['store']): boolean {
  return a.key === b.key || (store.get(a.key)?.ancestors ?? EMPTY_SET).has(b.key);
}

/** `attrsOf` for `.`: a record's map, or an existing entity's attributes (else an error). */
function attrsForGet(v: Value, env: Env): ReadonlyMap<string, Value> {
  if (v instanceof CRecord) return v.map;
  if (v instanceof EntityRef) {
    const d = env.store.get(v.key);
    if (d === undefined) throw new EvalError(`entity ${v.type}::"${v.id}" does not exist`);
    return d.attrs;
  }
  throw typeError('entity or record', v);
}

/** `attrsOf` for `has`: a missing entity has no attributes, which is not an error. */
function attrsForHas(v: Value, env: Env): ReadonlyMap<string, Value> | undefined {
  if (v instanceof CRecord) return v.map;
  if (v instanceof EntityRef) return env.store.get(v.key)?.attrs;
  throw typeError('entity or record', v);
}

function getAttr(v: Value, attr: string, env: Env): Value {
  const r = attrsForGet(v, env).get(attr);
  if (r === undefined) throw new EvalError(`attribute \`${attr}\` does not exist`);
  return r;
}

/** `a in b` with `b` an entity or a set of entities (every element must be an entity). */
function memberOf(a: Value, b: Value, env: Env): boolean {
  const e = asEntity(a);
  if (b instanceof EntityRef) return entityIn(e, b, env.store);
  if (!(b instanceof CSet)) throw typeError('entity or set', b);
  if (b.prims.size > 0 || b.others.size > 0) {
    const bad = b.prims.values().next();
    const other = b.others.values().next();
    throw typeError(
      'entity',
      bad.done !== true ? bad.value : other.done !== true ? other.value : false,
    );
  }
  if (b.ents.has(e.key)) return true;
  const anc = env.store.get(e.key)?.ancestors;
  if (anc === undefined || anc.size === 0) return false;
  // Iterate the smaller side: a group set is usually small, an ancestor set may be large.
  if (anc.size < b.ents.size) {
    for (const k of anc) if (b.ents.has(k)) return true;
    return false;
  }
  for (const k of b.ents.keys()) if (anc.has(k)) return true;
  return false;
}

/** A glob matcher for `like`: UTF-16 units, -1 for `*` (see the note on surrogates below). */
function likeMatcher(pattern: readonly unknown[]): (s: string) => boolean {
  const pat: number[] = [];
  for (const el of pattern) {
    if (el === 'Wildcard') {
      pat.push(-1);
    } else if (typeof el === 'object' && el !== null && 'Literal' in el) {
      const lit = el.Literal;
      if (typeof lit !== 'string') throw new NotCompiled('like literal');
      for (let i = 0; i < lit.length; i++) pat.push(lit.charCodeAt(i));
    } else {
      throw new NotCompiled('like pattern');
    }
  }
  // Matching by UTF-16 unit equals matching by character: literals are well-formed strings, so a
  // literal can neither start nor end inside a surrogate pair of the text.
  return (s: string): boolean => {
    let i = 0;
    let j = 0;
    let starJ = -1;
    let starI = 0;
    while (i < s.length) {
      const pj = pat[j];
      if (pj !== undefined && pj !== -1 && pj === s.charCodeAt(i)) {
        i++;
        j++;
      } else if (pj === -1) {
        starJ = j++;
        starI = i;
      } else if (starJ >= 0) {
        j = starJ + 1;
        i = ++starI;
      } else {
        return false;
      }
    }
    while (pat[j] === -1) j++;
    return j === pat.length;
  };
}

/** `<` and `<=` apply to Longs, datetimes and durations (Lean `apply₂ .less/.lessEq`). */
function ordered(a: Value, b: Value): readonly [bigint, bigint] {
  if (typeof a === 'bigint' && typeof b === 'bigint') return [a, b];
  if (a instanceof Datetime && b instanceof Datetime) return [a.ms, b.ms];
  if (a instanceof Duration && b instanceof Duration) return [a.ms, b.ms];
  if (typeof a === 'bigint' || a instanceof Datetime || a instanceof Duration) {
    throw typeError(typeName(a), b);
  }
  throw typeError('long, datetime or duration', a);
}

type Json = Readonly<Record<string, unknown>>;

function obj(x: unknown, what: string): Json {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new NotCompiled(what);
  return x as Json;
}

function str(x: unknown, what: string): string {
  if (typeof x !== 'string') throw new NotCompiled(what);
  return x;
}

/** Nesting bound, so a hostile policy cannot exhaust the stack; deeper ones fall back. */
const MAX_DEPTH = 200;

/**
 * Compiles one EST expression.
 * @throws NotCompiled for constructs left to the official engine.
 */
export function compileExpr(est: unknown, depth = 0): Compiled {
  if (depth > MAX_DEPTH) throw new NotCompiled('expression too deep');
  const node = obj(est, 'expression');
  const keys = Object.keys(node);
  if (keys.length !== 1) throw new NotCompiled('expression shape');
  const op = keys[0] ?? '';
  const body = node[op];
  const sub = (x: unknown): Compiled => compileExpr(x, depth + 1);
  const binary = (): readonly [Compiled, Compiled] => {
    const b = obj(body, op);
    return [sub(b['left']), sub(b['right'])];
  };

  switch (op) {
    case 'Value': {
      let v: Value;
      try {
        v = fromJson(body);
      } catch (e) {
        if (e instanceof UnsupportedData) throw new NotCompiled(`literal: ${e.message}`);
        throw e;
      }
      return () => v;
    }
    case 'Var':
      switch (body) {
        case 'principal':
          return (env) => env.principal;
        case 'action':
          return (env) => env.action;
        case 'resource':
          return (env) => env.resource;
        case 'context':
          return (env) => env.context;
        default:
          throw new NotCompiled('variable');
      }
    case '!': {
      const a = sub(obj(body, op)['arg']);
      return (env) => !asBool(a(env));
    }
    case 'neg': {
      const a = sub(obj(body, op)['arg']);
      return (env) => checked(-asLong(a(env)));
    }
    case '&&': {
      const [l, r] = binary();
      return (env) => asBool(l(env)) && asBool(r(env));
    }
    case '||': {
      const [l, r] = binary();
      return (env) => asBool(l(env)) || asBool(r(env));
    }
    case '==': {
      const [l, r] = binary();
      return (env) => {
        const a = l(env);
        const b = r(env);
        // Unwrapped primitives and same objects compare with ===; the rest structurally.
        return a === b || (typeof a === 'object' && typeof b === 'object' && valueEq(a, b));
      };
    }
    case '!=': {
      const [l, r] = binary();
      return (env) => {
        const a = l(env);
        const b = r(env);
        return !(a === b || (typeof a === 'object' && typeof b === 'object' && valueEq(a, b)));
      };
    }
    case '<': {
      const [l, r] = binary();
      return (env) => {
        const [a, b] = ordered(l(env), r(env));
        return a < b;
      };
    }
    case '<=': {
      const [l, r] = binary();
      return (env) => {
        const [a, b] = ordered(l(env), r(env));
        return a <= b;
      };
    }
    case '>': {
      const [l, r] = binary();
      return (env) => {
        const [a, b] = ordered(l(env), r(env));
        return a > b;
      };
    }
    case '>=': {
      const [l, r] = binary();
      return (env) => {
        const [a, b] = ordered(l(env), r(env));
        return a >= b;
      };
    }
    case '+': {
      const [l, r] = binary();
      return (env) => {
        const a = asLong(l(env));
        return checked(a + asLong(r(env)));
      };
    }
    case '-': {
      const [l, r] = binary();
      return (env) => {
        const a = asLong(l(env));
        return checked(a - asLong(r(env)));
      };
    }
    case '*': {
      const [l, r] = binary();
      return (env) => {
        const a = asLong(l(env));
        return checked(a * asLong(r(env)));
      };
    }
    case 'in': {
      const [l, r] = binary();
      return (env) => {
        const a = l(env);
        return memberOf(a, r(env), env);
      };
    }
    case 'contains': {
      const [l, r] = binary();
      return (env) => {
        const s = asSet(l(env));
        return s.has(r(env));
      };
    }
    case 'containsAll': {
      const [l, r] = binary();
      return (env) => {
        const a = asSet(l(env));
        const b = asSet(r(env));
        for (const v of b.values()) if (!a.has(v)) return false;
        return true;
      };
    }
    case 'containsAny': {
      const [l, r] = binary();
      return (env) => {
        const a = asSet(l(env));
        const b = asSet(r(env));
        for (const v of b.values()) if (a.has(v)) return true;
        return false;
      };
    }
    case 'isEmpty': {
      const a = sub(obj(body, op)['arg']);
      return (env) => asSet(a(env)).size === 0;
    }
    case 'getTag': {
      const [l, r] = binary();
      return (env) => {
        const e = asEntity(l(env));
        const tag = asString(r(env));
        const d = env.store.get(e.key);
        if (d === undefined) throw new EvalError(`entity ${e.type}::"${e.id}" does not exist`);
        const v = d.tags.get(tag);
        if (v === undefined) throw new EvalError(`tag \`${tag}\` does not exist`);
        return v;
      };
    }
    case 'hasTag': {
      const [l, r] = binary();
      return (env) => {
        const e = asEntity(l(env));
        const tag = asString(r(env));
        return env.store.get(e.key)?.tags.has(tag) ?? false;
      };
    }
    case '.': {
      const b = obj(body, op);
      const l = sub(b['left']);
      const attr = str(b['attr'], 'attribute');
      return (env) => getAttr(l(env), attr, env);
    }
    case 'has': {
      const b = obj(body, op);
      const l = sub(b['left']);
      const raw = b['attr'];
      const path = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
      if (path.length === 0 || !path.every((p): p is string => typeof p === 'string')) {
        throw new NotCompiled('has');
      }
      if (path.length === 1) {
        const attr = path[0] ?? '';
        return (env) => attrsForHas(l(env), env)?.has(attr) ?? false;
      }
      // `e has a.b` means `e has a && e.a has b`.
      return (env) => {
        let v = l(env);
        for (let i = 0; i < path.length; i++) {
          const attrs = attrsForHas(v, env);
          const next = attrs?.get(path[i] ?? '');
          if (next === undefined) return false;
          v = next;
        }
        return true;
      };
    }
    case 'like': {
      const b = obj(body, op);
      const l = sub(b['left']);
      const pattern = b['pattern'];
      if (!Array.isArray(pattern)) throw new NotCompiled('like');
      const match = likeMatcher(pattern);
      return (env) => match(asString(l(env)));
    }
    case 'is': {
      const b = obj(body, op);
      const l = sub(b['left']);
      const ety = str(b['entity_type'], 'entity type');
      if (b['in'] === undefined) {
        return (env) => asEntity(l(env)).type === ety;
      }
      const target = sub(b['in']);
      return (env) => {
        const e = asEntity(l(env));
        return e.type === ety && memberOf(e, target(env), env);
      };
    }
    case 'if-then-else': {
      const b = obj(body, op);
      const c = sub(b['if']);
      const t = sub(b['then']);
      const e = sub(b['else']);
      return (env) => (asBool(c(env)) ? t(env) : e(env));
    }
    case 'Set': {
      if (!Array.isArray(body)) throw new NotCompiled('set');
      const items = body.map(sub);
      return (env) => new CSet(items.map((f) => f(env)));
    }
    case 'Record': {
      const b = obj(body, op);
      const fields = Object.entries(b).map(([k, x]) => [k, sub(x)] as const);
      return (env) => {
        const m = new Map<string, Value>();
        for (const [k, f] of fields) m.set(k, f(env));
        return new CRecord(m);
      };
    }
    default: {
      const impl = Object.hasOwn(EXTENSIONS, op) ? EXTENSIONS[op] : undefined;
      if (impl === undefined || !Array.isArray(body)) {
        throw new NotCompiled(`construct \`${op}\``);
      }
      if (body.length !== impl[0]) {
        // The parser accepts any arity; the call then errors whenever it is evaluated.
        const message = `wrong number of arguments to \`${op}\`: expected ${impl[0]}, got ${body.length}`;
        return () => {
          throw new EvalError(message);
        };
      }
      const [, fn] = impl;
      const args = body.map(sub);
      // Constructors on a literal string (`ip("10.0.0.0/8")`) are computed once, here.
      const lit = body[0] as Json | undefined;
      if (args.length === 1 && lit !== undefined && typeof lit['Value'] === 'string') {
        const argv = lit['Value'];
        try {
          const v = fn([argv]);
          return () => v;
        } catch (e) {
          if (!(e instanceof EvalError)) throw e;
          // An invalid literal errors on every evaluation, as the official engine's does.
          return () => fn([argv]);
        }
      }
      if (args.length === 1) {
        const a = args[0] ?? (() => false);
        return (env) => fn([a(env)]);
      }
      return (env) => fn(args.map((f) => f(env)));
    }
  }
}

export { EvalError };
