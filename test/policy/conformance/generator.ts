/**
 * A seeded generator of random Cedar schemas, entity stores conforming to them, policy sets
 * written against them and requests, for the differential test (issue 4, part 6). The same seed
 * always gives the same case.
 *
 * Schemas have entity types in a hierarchy (including a type that nests in itself), attributes
 * of every type (Bool, Long, String, sets, records, entity references, ipaddr, decimal,
 * datetime, duration; some optional), tags, and actions in action groups. Policies mix permit
 * and forbid, scopes with `==`, `in`, `is`, `is … in`, lists of actions and none, and conditions
 * with `when`/`unless` over most of Cedar's expression language. Most attribute accesses are
 * guarded with `has`/`is`, some are not, so evaluation errors (missing attributes, missing
 * entities, missing tags, overflow, wrong types) happen too.
 */
import type {
  AuthorizationRequest,
  CedarJson,
  Entity,
  EntityUid,
  PolicySource,
} from '../../../src/policy/engine/index.js';

/** mulberry32: small, fast, good enough to drive a generator. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  subset<T>(items: readonly T[], p: number): T[] {
    return items.filter(() => this.chance(p));
  }
}

type Ext = 'ipaddr' | 'decimal' | 'datetime' | 'duration';
type Ty =
  | { readonly k: 'Bool' }
  | { readonly k: 'Long' }
  | { readonly k: 'String' }
  | { readonly k: 'Set'; readonly el: Ty }
  | { readonly k: 'Record'; readonly attrs: readonly Attr[] }
  | { readonly k: 'Entity'; readonly name: string }
  | { readonly k: 'Ext'; readonly ext: Ext };

interface Attr {
  readonly name: string;
  readonly ty: Ty;
  readonly required: boolean;
}

interface EntityTypeDef {
  readonly name: string;
  readonly local: string;
  readonly parents: readonly string[];
  readonly attrs: readonly Attr[];
  readonly tags: Ty | undefined;
}

interface ActionDef {
  readonly id: string;
  readonly groups: readonly string[];
  readonly principals: readonly string[];
  readonly resources: readonly string[];
  readonly context: readonly Attr[];
}

export interface GeneratedSchema {
  readonly namespace: string;
  readonly actionType: string;
  readonly types: readonly EntityTypeDef[];
  readonly actions: readonly ActionDef[];
  readonly groups: readonly string[];
}

/** One policy set with its schema, entities and the requests to ask about. */
export interface GeneratedCase {
  readonly seed: number;
  readonly schema: string;
  readonly policies: PolicySource;
  readonly entities: readonly Entity[];
  readonly requests: readonly AuthorizationRequest[];
}

const TYPE_NAMES = ['User', 'Team', 'Service', 'Doc', 'Folder', 'Tool'] as const;
const ATTR_NAMES = ['level', 'name', 'owner', 'team', 'addr', 'score', 'since', 'ttl', 'meta'];
const MORE_ATTR_NAMES = ['active', 'labels', 'members', 'limit', 'region'];
const ACTION_IDS = ['read', 'write', 'delete', 'invoke'] as const;
const GROUP_IDS = ['readOnly', 'all'] as const;
const IDS = ['a', 'b', 'c'] as const;
const MISSING_ID = 'zz';
const TAG_KEYS = ['k1', 'k2', 'k3'] as const;

const LONGS = [0, 1, -1, 2, 7, 42, 100, -100, 4503599627370496, -9007199254740991];
const LONG_LITERALS = ['9223372036854775807', '-9223372036854775808', '4611686018427387904'];
const STRINGS = ['', 'a', 'ab', 'abc', 'b*c', 'x y', 'é', 'hello', 'a"q', 'a\\b'];
const PATTERNS = ['*', 'a*', '*c', 'a*c', '', 'ab', '*b*', 'b\\*c', 'h*l*o', 'é'];
const EXT_VALUES: Readonly<Record<Ext, readonly string[]>> = {
  ipaddr: [
    '10.0.0.1',
    '10.0.0.0/8',
    '192.168.1.1',
    '127.0.0.1',
    '::1',
    'ff02::1',
    '224.0.0.1',
    '2001:db8::/32',
  ],
  decimal: ['0.0', '1.5', '-2.25', '123.4567', '-0.0001', '922337203685477.5807'],
  datetime: [
    '2024-01-01',
    '2024-06-15T12:30:00Z',
    '1970-01-01T00:00:00.001Z',
    '2024-06-15T12:30:00+0130',
    '2025-12-31T23:59:59.999-0800',
  ],
  duration: ['0ms', '1h', '-30m', '1d2h3m4s5ms', '90s', '-1d'],
};
const EXT_FN: Readonly<Record<Ext, string>> = {
  ipaddr: 'ip',
  decimal: 'decimal',
  datetime: 'datetime',
  duration: 'duration',
};

const quote = (s: string): string => JSON.stringify(s);
const uidText = (uid: EntityUid): string => `${uid.type}::${quote(uid.id)}`;

// ---------------------------------------------------------------------------------------------
// Schema

function genType(rng: Rng, entityTypes: readonly string[], depth: number): Ty {
  const roll = rng.int(0, depth > 0 ? 10 : 12);
  switch (roll) {
    case 0:
      return { k: 'Bool' };
    case 1:
    case 2:
      return { k: 'Long' };
    case 3:
      return { k: 'String' };
    case 4:
    case 5:
      return { k: 'Entity', name: rng.pick(entityTypes) };
    case 6:
      return { k: 'Ext', ext: rng.pick(['ipaddr', 'decimal'] as const) };
    case 7:
      return { k: 'Ext', ext: rng.pick(['datetime', 'duration'] as const) };
    case 8:
      return { k: 'Set', el: { k: rng.pick(['Long', 'String'] as const) } };
    case 9:
      return { k: 'Set', el: { k: 'Entity', name: rng.pick(entityTypes) } };
    case 10:
      return { k: 'String' };
    default:
      return {
        k: 'Record',
        attrs: [
          { name: 'a', ty: { k: 'Long' }, required: true },
          { name: 'b', ty: genType(rng, entityTypes, depth + 1), required: rng.chance(0.6) },
        ],
      };
  }
}

function genAttrs(rng: Rng, entityTypes: readonly string[], names: readonly string[]): Attr[] {
  return rng.subset(names, 0.45).map((name) => ({
    name,
    ty: genType(rng, entityTypes, 0),
    required: rng.chance(0.7),
  }));
}

export function generateSchema(rng: Rng): GeneratedSchema {
  const namespace = rng.chance(0.3) ? 'App' : '';
  const q = (local: string): string => (namespace ? `${namespace}::${local}` : local);
  const locals = rng.subset(TYPE_NAMES, 0.7);
  while (locals.length < 3) {
    const extra = rng.pick(TYPE_NAMES);
    if (!locals.includes(extra)) locals.push(extra);
  }
  const names = locals.map(q);
  const types = locals.map((local, i): EntityTypeDef => {
    const later = names.slice(i + 1);
    const parents = rng.subset(later, 0.5);
    if (rng.chance(0.25)) parents.push(q(local)); // a type nesting in itself (folders)
    return {
      name: q(local),
      local,
      parents,
      attrs: genAttrs(rng, names, i % 2 === 0 ? ATTR_NAMES : [...ATTR_NAMES, ...MORE_ATTR_NAMES]),
      tags: rng.chance(0.35) ? { k: rng.pick(['String', 'Long'] as const) } : undefined,
    };
  });
  const groups = rng.subset(GROUP_IDS, 0.7);
  const actionIds = rng.subset(ACTION_IDS, 0.7);
  if (actionIds.length === 0) actionIds.push('read');
  const actions = actionIds.map((id): ActionDef => ({
    id,
    groups: rng.subset(groups, 0.6),
    principals: rng.subset(names, 0.5).concat([rng.pick(names)]),
    resources: rng.subset(names, 0.6).concat([rng.pick(names)]),
    context: genAttrs(rng, names, ['level', 'name', 'addr', 'since', 'ttl', 'meta', 'active']),
  }));
  return { namespace, actionType: q('Action'), types, actions, groups };
}

function tyText(ty: Ty, local: (name: string) => string): string {
  switch (ty.k) {
    case 'Set':
      return `Set<${tyText(ty.el, local)}>`;
    case 'Record':
      return `{ ${ty.attrs.map((a) => `${a.name}${a.required ? '' : '?'}: ${tyText(a.ty, local)}`).join(', ')} }`;
    case 'Entity':
      return local(ty.name);
    case 'Ext':
      return ty.ext;
    default:
      return ty.k;
  }
}

/** The schema in Cedar's schema syntax. */
export function schemaText(schema: GeneratedSchema): string {
  const local = (name: string): string => name.slice(name.lastIndexOf(':') + 1);
  const lines: string[] = [];
  for (const type of schema.types) {
    const parents = type.parents.length ? ` in [${type.parents.map(local).join(', ')}]` : '';
    const shape = tyText({ k: 'Record', attrs: type.attrs }, local);
    const tags = type.tags ? ` tags ${tyText(type.tags, local)}` : '';
    lines.push(`entity ${type.local}${parents} = ${shape}${tags};`);
  }
  for (const group of schema.groups) lines.push(`action ${quote(group)};`);
  for (const action of schema.actions) {
    const groups = action.groups.length ? ` in [${action.groups.map(quote).join(', ')}]` : '';
    const context = tyText({ k: 'Record', attrs: action.context }, local);
    lines.push(
      `action ${quote(action.id)}${groups} appliesTo { principal: [${[...new Set(action.principals)].map(local).join(', ')}], ` +
        `resource: [${[...new Set(action.resources)].map(local).join(', ')}], context: ${context} };`,
    );
  }
  const body = lines.join('\n');
  return schema.namespace
    ? `namespace ${schema.namespace} {\n${body.replace(/^/gm, '  ')}\n}\n`
    : `${body}\n`;
}

// ---------------------------------------------------------------------------------------------
// Entities and requests

function genValue(rng: Rng, ty: Ty, depth = 0): CedarJson {
  switch (ty.k) {
    case 'Bool':
      return rng.chance(0.5);
    case 'Long':
      return rng.pick(LONGS);
    case 'String':
      return rng.pick(STRINGS);
    case 'Entity':
      return { __entity: { type: ty.name, id: rng.chance(0.9) ? rng.pick(IDS) : MISSING_ID } };
    case 'Ext':
      return { __extn: { fn: EXT_FN[ty.ext], arg: rng.pick(EXT_VALUES[ty.ext]) } };
    case 'Set': {
      const items: CedarJson[] = [];
      for (let i = rng.int(0, 3); i > 0; i -= 1) items.push(genValue(rng, ty.el, depth + 1));
      return items;
    }
    case 'Record': {
      const record: Record<string, CedarJson> = {};
      for (const attr of ty.attrs) {
        if (attr.required || rng.chance(0.6)) record[attr.name] = genValue(rng, attr.ty, depth + 1);
      }
      return record;
    }
  }
}

function genEntities(rng: Rng, schema: GeneratedSchema): Entity[] {
  const entities: Entity[] = [];
  for (const type of schema.types) {
    const ids = rng.subset(IDS, 0.85);
    for (const [index, id] of ids.entries()) {
      const parents: EntityUid[] = [];
      for (const parentType of type.parents) {
        // Only to later ids of the same type, so the hierarchy has no cycles.
        const candidates = parentType === type.name ? IDS.slice(IDS.indexOf(id) + 1) : IDS;
        for (const parentId of candidates) {
          if (rng.chance(0.35)) parents.push({ type: parentType, id: parentId });
        }
      }
      const attrs: Record<string, CedarJson> = {};
      for (const attr of type.attrs) {
        if (attr.required || rng.chance(0.6)) attrs[attr.name] = genValue(rng, attr.ty);
      }
      const entity: Entity = { uid: { type: type.name, id }, attrs, parents };
      if (type.tags && index >= 0) {
        const tags: Record<string, CedarJson> = {};
        for (const key of rng.subset(TAG_KEYS, 0.5)) tags[key] = genValue(rng, type.tags);
        entities.push({ ...entity, tags });
      } else {
        entities.push(entity);
      }
    }
  }
  for (const group of schema.groups) {
    entities.push({ uid: { type: schema.actionType, id: group }, attrs: {}, parents: [] });
  }
  for (const action of schema.actions) {
    entities.push({
      uid: { type: schema.actionType, id: action.id },
      attrs: {},
      parents: action.groups.map((id) => ({ type: schema.actionType, id })),
    });
  }
  return entities;
}

function genRequest(rng: Rng, schema: GeneratedSchema): AuthorizationRequest {
  const action = rng.pick(schema.actions);
  const uid = (types: readonly string[]): EntityUid => ({
    type: rng.pick(types),
    id: rng.chance(0.88) ? rng.pick(IDS) : MISSING_ID,
  });
  return {
    principal: uid(action.principals),
    action: { type: schema.actionType, id: action.id },
    resource: uid(action.resources),
    context: genValue(rng, { k: 'Record', attrs: action.context }) as Record<string, CedarJson>,
  };
}

// ---------------------------------------------------------------------------------------------
// Policies

/** An expression's text and the conditions that keep it from erroring. */
interface Term {
  readonly text: string;
  readonly guards: readonly string[];
}

/** What the scope tells the conditions about the request. */
interface Env {
  readonly principalTypes: readonly string[];
  readonly resourceTypes: readonly string[];
  readonly contexts: readonly (readonly Attr[])[];
}

class PolicyWriter {
  constructor(
    private readonly rng: Rng,
    private readonly schema: GeneratedSchema,
  ) {}

  private typeDef(name: string): EntityTypeDef | undefined {
    return this.schema.types.find((t) => t.name === name);
  }

  private anyUid(types: readonly string[] = this.schema.types.map((t) => t.name)): string {
    const { rng } = this;
    return uidText({ type: rng.pick(types), id: rng.chance(0.9) ? rng.pick(IDS) : MISSING_ID });
  }

  private actionUid(id: string): string {
    return uidText({ type: this.schema.actionType, id });
  }

  scope(variable: 'principal' | 'resource', types: readonly string[]): [string, string[]] {
    const { rng } = this;
    const all = this.schema.types.map((t) => t.name);
    switch (rng.int(0, 5)) {
      case 0:
      case 1:
        return [variable, [...types]];
      case 2: {
        const uid = this.anyUid(types);
        return [`${variable} == ${uid}`, [uid.slice(0, uid.lastIndexOf('::'))]];
      }
      case 3:
        return [`${variable} in ${this.anyUid(all)}`, [...types]];
      case 4: {
        const type = rng.pick(types);
        return [`${variable} is ${type}`, [type]];
      }
      default: {
        const type = rng.pick(types);
        return [`${variable} is ${type} in ${this.anyUid(all)}`, [type]];
      }
    }
  }

  actionScope(): [string, ActionDef[]] {
    const { rng, schema } = this;
    switch (rng.int(0, 4)) {
      case 0:
        return ['action', [...schema.actions]];
      case 1:
      case 2: {
        const action = rng.pick(schema.actions);
        return [`action == ${this.actionUid(action.id)}`, [action]];
      }
      case 3: {
        if (schema.groups.length === 0) return ['action', [...schema.actions]];
        const group = rng.pick(schema.groups);
        const members = schema.actions.filter((a) => a.groups.includes(group));
        return [`action in ${this.actionUid(group)}`, members];
      }
      default: {
        const list = rng.subset(schema.actions, 0.5);
        const ids = [...list.map((a) => a.id), ...(rng.chance(0.3) ? schema.groups : [])];
        if (ids.length === 0) return ['action', [...schema.actions]];
        return [
          `action in [${ids.map((id) => this.actionUid(id)).join(', ')}]`,
          schema.actions.filter(
            (a) => ids.includes(a.id) || a.groups.some((group) => ids.includes(group)),
          ),
        ];
      }
    }
  }

  /** Attribute accesses of a type that matches, with their guards. */
  private paths(env: Env, want: (ty: Ty) => boolean): Term[] {
    const found: Term[] = [];
    const fromEntity = (base: string, types: readonly string[], guards: string[], hop: number) => {
      for (const typeName of types) {
        const def = this.typeDef(typeName);
        if (!def) continue;
        const typeGuard = types.length > 1 || hop > 0 ? [`${base} is ${typeName}`] : [];
        for (const attr of def.attrs) {
          const access = `${base}.${attr.name}`;
          const attrGuards = [
            ...guards,
            ...typeGuard,
            ...(attr.required && hop === 0 ? [] : [`${base} has ${attr.name}`]),
          ];
          if (want(attr.ty)) found.push({ text: access, guards: attrGuards });
          if (attr.ty.k === 'Entity' && hop === 0) {
            fromEntity(access, [attr.ty.name], attrGuards, 1);
          }
          if (attr.ty.k === 'Record') fromRecord(access, attr.ty.attrs, attrGuards);
        }
      }
    };
    const fromRecord = (base: string, attrs: readonly Attr[], guards: readonly string[]) => {
      for (const attr of attrs) {
        const attrGuards = [...guards, ...(attr.required ? [] : [`${base} has ${attr.name}`])];
        if (want(attr.ty)) found.push({ text: `${base}.${attr.name}`, guards: attrGuards });
      }
    };
    fromEntity('principal', env.principalTypes, [], 0);
    fromEntity('resource', env.resourceTypes, [], 0);
    for (const context of env.contexts) {
      for (const attr of context) {
        const everywhere = env.contexts.every((c) =>
          c.some((a) => a.name === attr.name && a.required && sameTy(a.ty, attr.ty)),
        );
        const guards = everywhere ? [] : [`context has ${attr.name}`];
        if (want(attr.ty)) found.push({ text: `context.${attr.name}`, guards });
        if (attr.ty.k === 'Record') fromRecord(`context.${attr.name}`, attr.ty.attrs, guards);
      }
    }
    return found;
  }

  private path(env: Env, want: (ty: Ty) => boolean): Term | undefined {
    const found = this.paths(env, want);
    return found.length > 0 ? this.rng.pick(found) : undefined;
  }

  long(env: Env, depth: number): Term {
    const { rng } = this;
    const roll = rng.int(0, depth > 2 ? 2 : 8);
    if (roll <= 1) {
      const literal = rng.chance(0.15)
        ? rng.pick(LONG_LITERALS)
        : String(rng.pick(LONGS.slice(0, 8)));
      return { text: literal, guards: [] };
    }
    if (roll === 2) return this.path(env, (t) => t.k === 'Long') ?? { text: '3', guards: [] };
    if (roll <= 5) {
      const left = this.long(env, depth + 1);
      const right = this.long(env, depth + 1);
      const op = rng.pick(['+', '-', '*'] as const);
      return {
        text: `(${left.text} ${op} ${right.text})`,
        guards: [...left.guards, ...right.guards],
      };
    }
    if (roll === 6) {
      const inner = this.long(env, depth + 1);
      return { text: `-(${inner.text})`, guards: inner.guards };
    }
    if (roll === 7) {
      const d = this.ext(env, 'duration');
      const method = rng.pick(['toMilliseconds', 'toSeconds', 'toMinutes', 'toHours', 'toDays']);
      return { text: `${d.text}.${method}()`, guards: d.guards };
    }
    const cond = this.bool(env, depth + 1);
    const a = this.long(env, depth + 1);
    const b = this.long(env, depth + 1);
    return {
      text: `(if ${cond} then ${a.text} else ${b.text})`,
      guards: [...a.guards, ...b.guards],
    };
  }

  string(env: Env): Term {
    if (this.rng.chance(0.6)) {
      const found = this.path(env, (t) => t.k === 'String');
      if (found) return found;
    }
    return { text: quote(this.rng.pick(STRINGS)), guards: [] };
  }

  entity(env: Env): Term {
    const { rng } = this;
    const roll = rng.int(0, 4);
    if (roll === 0) return { text: 'principal', guards: [] };
    if (roll === 1) return { text: 'resource', guards: [] };
    if (roll === 2) return { text: this.anyUid(), guards: [] };
    return this.path(env, (t) => t.k === 'Entity') ?? { text: this.anyUid(), guards: [] };
  }

  ext(env: Env, ext: Ext): Term {
    const { rng } = this;
    if (rng.chance(0.5)) {
      const found = this.path(env, (t) => t.k === 'Ext' && t.ext === ext);
      if (found) return found;
    }
    if (ext === 'datetime' && rng.chance(0.2)) {
      const base = this.ext(env, 'datetime');
      const offset = this.ext(env, 'duration');
      return {
        text: `${base.text}.offset(${offset.text})`,
        guards: [...base.guards, ...offset.guards],
      };
    }
    return { text: `${EXT_FN[ext]}(${quote(rng.pick(EXT_VALUES[ext]))})`, guards: [] };
  }

  set(env: Env): Term {
    const { rng } = this;
    if (rng.chance(0.6)) {
      const found = this.path(env, (t) => t.k === 'Set');
      if (found) return found;
    }
    switch (rng.int(0, 2)) {
      case 0:
        return { text: `[${rng.subset(LONGS.slice(0, 8), 0.3).join(', ')}]`, guards: [] };
      case 1:
        return {
          text: `[${rng.subset(STRINGS.slice(0, 6), 0.3).map(quote).join(', ')}]`,
          guards: [],
        };
      default: {
        const items = [this.entity(env), this.entity(env)];
        return {
          text: `[${items.map((i) => i.text).join(', ')}]`,
          guards: items.flatMap((i) => i.guards),
        };
      }
    }
  }

  private element(env: Env): Term {
    const { rng } = this;
    switch (rng.int(0, 2)) {
      case 0:
        return this.long(env, 2);
      case 1:
        return this.string(env);
      default:
        return this.entity(env);
    }
  }

  /** A guarded atom: usually `guards && atom`, sometimes the bare atom (which may error). */
  private guarded(atom: string, guards: readonly string[]): string {
    const unique = [...new Set(guards)];
    if (unique.length === 0 || this.rng.chance(0.2)) return atom;
    return `(${unique.join(' && ')} && ${atom})`;
  }

  atom(env: Env): string {
    const { rng } = this;
    switch (rng.int(0, 16)) {
      case 0:
        return rng.pick(['true', 'false']);
      case 1:
      case 2: {
        const a = this.long(env, 0);
        const b = this.long(env, 1);
        const op = rng.pick(['<', '<=', '>', '>=', '==', '!='] as const);
        return this.guarded(`${a.text} ${op} ${b.text}`, [...a.guards, ...b.guards]);
      }
      case 3: {
        const s = this.string(env);
        if (rng.chance(0.5)) {
          return this.guarded(
            `${s.text} like ${quote(rng.pick(PATTERNS)).replace(/\\\\/g, '\\')}`,
            s.guards,
          );
        }
        const t = this.string(env);
        return this.guarded(`${s.text} ${rng.pick(['==', '!='])} ${t.text}`, [
          ...s.guards,
          ...t.guards,
        ]);
      }
      case 4: {
        const attr = rng.pick([...ATTR_NAMES, ...MORE_ATTR_NAMES]);
        const base = rng.pick(['principal', 'resource', 'context']);
        if (rng.chance(0.3)) {
          const nested = this.path(env, (t) => t.k === 'Record' || t.k === 'Entity');
          if (nested)
            return this.guarded(`${nested.text} has ${rng.pick(['a', 'b', attr])}`, nested.guards);
        }
        return `${base} has ${attr}`;
      }
      case 5:
        return `${rng.pick(['principal', 'resource'])} is ${rng.pick(this.schema.types).name}`;
      case 6: {
        const left = rng.chance(0.5)
          ? { text: rng.pick(['principal', 'resource']), guards: [] }
          : this.entity(env);
        const right = rng.chance(0.3)
          ? this.set(env)
          : rng.chance(0.5)
            ? { text: this.anyUid(), guards: [] }
            : this.entity(env);
        return this.guarded(`${left.text} in ${right.text}`, [...left.guards, ...right.guards]);
      }
      case 7: {
        const target = rng.chance(0.5)
          ? rng.pick([...this.schema.groups, 'read'])
          : rng.pick(this.schema.actions).id;
        return `action in ${this.actionUid(target)}`;
      }
      case 8: {
        const s = this.set(env);
        const method = rng.int(0, 3);
        if (method === 0) return this.guarded(`${s.text}.isEmpty()`, s.guards);
        if (method === 1) {
          const e = this.element(env);
          return this.guarded(`${s.text}.contains(${e.text})`, [...s.guards, ...e.guards]);
        }
        const other = this.set(env);
        const name = method === 2 ? 'containsAll' : 'containsAny';
        return this.guarded(`${s.text}.${name}(${other.text})`, [...s.guards, ...other.guards]);
      }
      case 9: {
        const a = this.ext(env, 'ipaddr');
        if (rng.chance(0.5)) {
          const b = this.ext(env, 'ipaddr');
          return this.guarded(`${a.text}.isInRange(${b.text})`, [...a.guards, ...b.guards]);
        }
        const method = rng.pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast']);
        return this.guarded(`${a.text}.${method}()`, a.guards);
      }
      case 10: {
        const a = this.ext(env, 'decimal');
        const b = this.ext(env, 'decimal');
        const method = rng.pick([
          'lessThan',
          'lessThanOrEqual',
          'greaterThan',
          'greaterThanOrEqual',
        ]);
        return this.guarded(`${a.text}.${method}(${b.text})`, [...a.guards, ...b.guards]);
      }
      case 11: {
        const ext = rng.pick(['datetime', 'duration'] as const);
        const a = this.ext(env, ext);
        const b = this.ext(env, ext);
        const op = rng.pick(['<', '<=', '>', '>=', '==', '!='] as const);
        if (ext === 'datetime' && rng.chance(0.3)) {
          const d = this.ext(env, 'duration');
          return this.guarded(`${a.text}.durationSince(${b.text}) ${op} ${d.text}`, [
            ...a.guards,
            ...b.guards,
            ...d.guards,
          ]);
        }
        return this.guarded(`${a.text} ${op} ${b.text}`, [...a.guards, ...b.guards]);
      }
      case 12: {
        const who = rng.pick(['principal', 'resource']);
        const key = quote(rng.pick(TAG_KEYS));
        if (rng.chance(0.5)) return `${who}.hasTag(${key})`;
        const value = rng.chance(0.5) ? quote(rng.pick(STRINGS)) : String(rng.pick(LONGS));
        return this.guarded(`${who}.getTag(${key}) == ${value}`, [`${who}.hasTag(${key})`]);
      }
      case 13: {
        const a = this.entity(env);
        const b = this.entity(env);
        return this.guarded(`${a.text} ${rng.pick(['==', '!='])} ${b.text}`, [
          ...a.guards,
          ...b.guards,
        ]);
      }
      case 14: {
        const found = this.path(env, (t) => t.k === 'Bool');
        return found ? this.guarded(found.text, found.guards) : 'true';
      }
      case 15: {
        const found = this.path(env, (t) => t.k === 'Record');
        if (!found) return 'false';
        const b = rng.pick(['1', quote('a'), 'true']);
        return this.guarded(
          `${found.text} == {a: ${rng.pick(['0', '1', '7'])}, b: ${b}}`,
          found.guards,
        );
      }
      default: {
        const found = this.path(env, (t) => t.k === 'Long');
        if (!found) return 'true';
        // Overflow on purpose.
        return this.guarded(`${found.text} * 4611686018427387904 > 0`, found.guards);
      }
    }
  }

  bool(env: Env, depth: number): string {
    const { rng } = this;
    if (depth >= 3 || rng.chance(0.45)) return this.atom(env);
    switch (rng.int(0, 4)) {
      case 0:
      case 1:
        return `(${this.bool(env, depth + 1)} && ${this.bool(env, depth + 1)})`;
      case 2:
        return `(${this.bool(env, depth + 1)} || ${this.bool(env, depth + 1)})`;
      case 3:
        return `!(${this.bool(env, depth + 1)})`;
      default:
        return `(if ${this.bool(env, depth + 1)} then ${this.bool(env, depth + 1)} else ${this.bool(env, depth + 1)})`;
    }
  }

  policy(): string {
    const { rng, schema } = this;
    const [actionScope, actions] = this.actionScope();
    const principalTypes = [...new Set(actions.flatMap((a) => a.principals))];
    const resourceTypes = [...new Set(actions.flatMap((a) => a.resources))];
    const all = schema.types.map((t) => t.name);
    const [principalScope, principals] = this.scope(
      'principal',
      principalTypes.length ? principalTypes : all,
    );
    const [resourceScope, resources] = this.scope(
      'resource',
      resourceTypes.length ? resourceTypes : all,
    );
    const env: Env = {
      principalTypes: principals,
      resourceTypes: resources,
      contexts: actions.map((a) => a.context),
    };
    const effect = rng.chance(0.65) ? 'permit' : 'forbid';
    const conditions: string[] = [];
    for (let i = rng.int(0, 3); i > 0; i -= 1) {
      conditions.push(` ${rng.chance(0.75) ? 'when' : 'unless'} { ${this.bool(env, 0)} }`);
    }
    return `${effect} (${principalScope}, ${actionScope}, ${resourceScope})${conditions.join('')};`;
  }
}

function sameTy(a: Ty, b: Ty): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The case for one seed: a schema, entities, a policy set and `requestCount` requests. */
export function generateCase(seed: number, requestCount: number): GeneratedCase {
  const rng = new Rng(seed);
  const schema = generateSchema(rng);
  const writer = new PolicyWriter(rng, schema);
  const policies: Record<string, string> = {};
  for (let i = 0, n = rng.int(2, 8); i < n; i += 1) policies[`p${i}`] = writer.policy();
  const entities = genEntities(rng, schema);
  const requests: AuthorizationRequest[] = [];
  for (let i = 0; i < requestCount; i += 1) requests.push(genRequest(rng, schema));
  return { seed, schema: schemaText(schema), policies, entities, requests };
}
