/**
 * The schema checks of a decision request, in JS, against the schema Steward already holds
 * (`SCHEMA_JSON`): a described entity's attributes and parents, and the request's context.
 *
 * The official engine's `checkParseEntities`/`checkParseContext` parse the whole schema on every
 * call (milliseconds each); these checks walk the value once (microseconds). They decide only
 * what they are sure of: a form they do not model (an extension value in another spelling than
 * `{"__extn": {"fn", "arg"}}`, a number beyond 2^53 where a Long is expected) is left to the
 * official engine, which stays the reference. The differential test
 * (`test/policy/request-check.test.ts`) checks on thousands of random inputs that every verdict
 * given here is the official engine's.
 */
import { parseDatetime, parseDecimal, parseDuration, parseIp } from './engine/fast/extensions.js';
import { NAMESPACE, SCHEMA_JSON } from './schema.js';

/** Accepted, refused with the first problem found, or `undefined`: not modelled here, ask Cedar. */
export type SchemaVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly pointer: string; readonly detail: string }
  | undefined;

type ExtensionName = 'ipaddr' | 'decimal' | 'datetime' | 'duration';

/** A schema type, resolved: common type names replaced by their definitions. */
type SchemaType =
  | { readonly kind: 'String' | 'Long' | 'Bool' | 'Unmodelled' }
  | { readonly kind: 'Set'; readonly element: SchemaType }
  | { readonly kind: 'Record'; readonly attributes: ReadonlyMap<string, Attribute> }
  | { readonly kind: 'Extension'; readonly name: ExtensionName };

interface Attribute {
  readonly type: SchemaType;
  readonly required: boolean;
}

/** Each extension type's constructor, as `__extn.fn` names it. */
const CONSTRUCTORS: Readonly<Record<ExtensionName, string>> = {
  ipaddr: 'ip',
  decimal: 'decimal',
  datetime: 'datetime',
  duration: 'duration',
};
const PARSERS: Readonly<Record<ExtensionName, (arg: string) => unknown>> = {
  ipaddr: parseIp,
  decimal: parseDecimal,
  datetime: parseDatetime,
  duration: parseDuration,
};
const CONSTRUCTOR_NAMES = new Set(Object.values(CONSTRUCTORS));

const OK = { ok: true } as const;

function refuse(pointer: string, detail: string): SchemaVerdict {
  return { ok: false, pointer, detail };
}

type JsonType = { readonly type?: unknown; readonly [key: string]: unknown };

interface NamespaceJson {
  readonly commonTypes?: Readonly<Record<string, JsonType>>;
  readonly entityTypes: Readonly<
    Record<string, { readonly memberOfTypes?: readonly string[]; readonly shape?: JsonType }>
  >;
  readonly actions: Readonly<
    Record<string, { readonly appliesTo?: { readonly context?: JsonType } }>
  >;
}

const schema = (SCHEMA_JSON as unknown as Readonly<Record<string, NamespaceJson>>)[NAMESPACE];
if (schema === undefined) throw new Error(`Steward's schema has no namespace ${NAMESPACE}`);
const commonTypes = schema.commonTypes ?? {};

/** `Steward::Tool` and `Tool` both name the schema's `Tool`. */
function local(name: string): string {
  return name.startsWith(`${NAMESPACE}::`) ? name.slice(NAMESPACE.length + 2) : name;
}

function resolve(json: JsonType | undefined, depth = 0): SchemaType {
  if (json === undefined || depth > 32) return { kind: 'Unmodelled' };
  switch (json.type) {
    case 'String':
      return { kind: 'String' };
    case 'Long':
      return { kind: 'Long' };
    case 'Boolean':
      return { kind: 'Bool' };
    case 'Set':
      return { kind: 'Set', element: resolve(json['element'] as JsonType, depth + 1) };
    case 'Record': {
      // A record open to more attributes is not modelled (and not in Cedar 4's official build).
      if (json['additionalAttributes'] === true) return { kind: 'Unmodelled' };
      const attributes = new Map<string, Attribute>();
      const given = (json['attributes'] ?? {}) as Readonly<Record<string, JsonType>>;
      for (const [name, attribute] of Object.entries(given)) {
        attributes.set(name, {
          type: resolve(attribute, depth + 1),
          required: attribute['required'] !== false,
        });
      }
      return { kind: 'Record', attributes };
    }
    case 'Extension':
      return named(String(json['name']), depth);
    case 'EntityOrCommon':
      return named(String(json['name']), depth);
    default: {
      // A common type by name (`{"type": "RequestContext"}`).
      const name = typeof json.type === 'string' ? local(json.type) : '';
      const common = commonTypes[name];
      return common === undefined ? { kind: 'Unmodelled' } : resolve(common, depth + 1);
    }
  }
}

/** A type by name: a common type of the namespace first, then the built-in ones. */
function named(name: string, depth: number): SchemaType {
  const common = commonTypes[local(name)];
  if (common !== undefined) return resolve(common, depth + 1);
  switch (name) {
    case 'String':
      return { kind: 'String' };
    case 'Long':
      return { kind: 'Long' };
    case 'Bool':
    case 'Boolean':
      return { kind: 'Bool' };
    case 'ipaddr':
    case 'decimal':
    case 'datetime':
    case 'duration':
      return { kind: 'Extension', name };
    default:
      // Entity references are not in Steward's attribute types: left to Cedar.
      return { kind: 'Unmodelled' };
  }
}

interface EntityShape {
  readonly attributes: SchemaType;
  /** Qualified parent types a member may have: its `memberOfTypes`, transitively. */
  readonly parents: ReadonlySet<string>;
}

/**
 * The types an entity of `type` may have as a parent: its `memberOfTypes` and, transitively,
 * theirs (Cedar accepts a `Tool` directly in a `Team`, as a `Tool` in an `Upstream` in a `Team`).
 */
function parentTypes(type: string): Set<string> {
  const found = new Set<string>();
  const stack = [...(schema?.entityTypes[type]?.memberOfTypes ?? [])];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const name = local(next);
    if (found.has(`${NAMESPACE}::${name}`)) continue;
    found.add(`${NAMESPACE}::${name}`);
    stack.push(...(schema?.entityTypes[name]?.memberOfTypes ?? []));
  }
  return found;
}

const ENTITY_SHAPES = new Map<string, EntityShape>(
  Object.entries(schema.entityTypes).map(([name, declared]) => [
    `${NAMESPACE}::${name}`,
    {
      attributes: resolve(declared.shape ?? { type: 'Record', attributes: {} }),
      parents: parentTypes(name),
    },
  ]),
);

const CONTEXTS = new Map<string, SchemaType>(
  Object.entries(schema.actions).map(([name, declared]) => [
    name,
    resolve(declared.appliesTo?.context ?? { type: 'Record', attributes: {} }),
  ]),
);

/** A JSON pointer step for an attribute name. */
function step(pointer: string, name: string): string {
  return `${pointer}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a set';
  if (isPlainObject(value)) return 'a record';
  if (typeof value === 'number') return 'a number';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'a boolean';
  return `a ${typeof value}`;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  String: 'a string',
  Long: 'an integer',
  Bool: 'a boolean',
  Set: 'a set',
  Record: 'a record',
};

/** Checks `value` against `type`; see {@link SchemaVerdict}. */
function check(value: unknown, type: SchemaType, pointer: string): SchemaVerdict {
  // Cedar has no null. An escape (`__entity`, `__extn`, `__expr`) where a string, a boolean, a
  // set or a record is expected is refused as well: it is either no Cedar value at all or one of
  // another type (no extension constructor makes a string), and in a record an attribute that
  // is not declared. Only extension values are read in several spellings (below).
  if (value === null) return refuse(pointer, `${pointer} is null: Cedar has no null`);
  if (value === undefined) return undefined;
  switch (type.kind) {
    case 'Unmodelled':
      return undefined;
    case 'String':
      return typeof value === 'string' ? OK : mismatch(value, type.kind, pointer);
    case 'Bool':
      return typeof value === 'boolean' ? OK : mismatch(value, type.kind, pointer);
    case 'Long':
      if (typeof value === 'number') return Number.isSafeInteger(value) ? OK : undefined;
      return mismatch(value, type.kind, pointer);
    case 'Set': {
      if (!Array.isArray(value)) return mismatch(value, type.kind, pointer);
      let verdict: SchemaVerdict = OK;
      for (let i = 0; i < value.length; i++) {
        const element = check(value[i], type.element, `${pointer}/${i}`);
        if (element === undefined) verdict = undefined;
        else if (!element.ok) return element;
      }
      return verdict;
    }
    case 'Record':
      return isPlainObject(value)
        ? checkRecord(value, type.attributes, pointer, 'the record')
        : mismatch(value, type.kind, pointer);
    case 'Extension':
      return checkExtension(value, type.name, pointer);
  }
}

function mismatch(value: unknown, expected: string, pointer: string): SchemaVerdict {
  return refuse(
    pointer,
    `${pointer} must be ${TYPE_WORDS[expected] ?? expected}, not ${describe(value)}`,
  );
}

function checkRecord(
  value: Readonly<Record<string, unknown>>,
  attributes: ReadonlyMap<string, Attribute>,
  pointer: string,
  what: string,
): SchemaVerdict {
  let verdict: SchemaVerdict = OK;
  for (const name of Object.keys(value)) {
    const attribute = attributes.get(name);
    if (attribute === undefined) {
      return refuse(
        step(pointer, name),
        `${what} has no attribute ${JSON.stringify(name)}; its attributes are ${[...attributes.keys()].join(', ')}`,
      );
    }
    const inner = check(value[name], attribute.type, step(pointer, name));
    if (inner === undefined) verdict = undefined;
    else if (!inner.ok) return inner;
  }
  for (const [name, attribute] of attributes) {
    if (attribute.required && !Object.hasOwn(value, name)) {
      return refuse(pointer, `${what} lacks the required attribute ${JSON.stringify(name)}`);
    }
  }
  return verdict;
}

/** `{"__extn": {"fn": "ip", "arg": "10.0.0.1"}}`, exactly: other spellings are Cedar's to read. */
function checkExtension(value: unknown, name: ExtensionName, pointer: string): SchemaVerdict {
  if (typeof value === 'string') return undefined;
  if (!isPlainObject(value)) return mismatch(value, name, pointer);
  const keys = Object.keys(value);
  const extn = value['__extn'];
  if (keys.length !== 1 || !isPlainObject(extn)) return undefined;
  const inner = Object.keys(extn);
  const { fn, arg } = extn;
  if (inner.length !== 2 || typeof fn !== 'string' || typeof arg !== 'string') return undefined;
  if (fn !== CONSTRUCTORS[name]) {
    return CONSTRUCTOR_NAMES.has(fn)
      ? refuse(
          pointer,
          `${pointer} must be ${name === 'ipaddr' ? 'an' : 'a'} ${name}, not ${fn}(…)`,
        )
      : undefined;
  }
  return PARSERS[name](arg) === undefined
    ? refuse(pointer, `${pointer}: ${JSON.stringify(arg)} is not a valid ${name}`)
    : OK;
}

/**
 * Checks a described entity: its type is declared, its attributes are exactly its shape's (every
 * required one, none other, each of its type), and each parent is of a type it may be a member
 * of. Pointers start at `pointer` (the entity), its attributes under `/attrs`, parents under
 * `/parents/<i>`.
 */
export function checkEntity(
  entity: {
    readonly uid: { readonly type: string; readonly id: string };
    readonly attrs: unknown;
    readonly parents: readonly { readonly type: string; readonly id: string }[];
    readonly tags?: unknown;
  },
  pointer: string,
): SchemaVerdict {
  const shape = ENTITY_SHAPES.get(entity.uid.type);
  if (shape === undefined || entity.tags !== undefined) return undefined;
  for (let i = 0; i < entity.parents.length; i++) {
    const parent = entity.parents[i]?.type ?? '';
    if (!shape.parents.has(parent)) {
      const allowed = [...shape.parents].join(', ') || 'none';
      return refuse(
        `${pointer}/parents/${i}/type`,
        `a ${entity.uid.type} may be in ${allowed}, not ${JSON.stringify(parent)}`,
      );
    }
  }
  const attributes = shape.attributes;
  if (attributes.kind !== 'Record') return undefined;
  if (!isPlainObject(entity.attrs)) return mismatch(entity.attrs, 'Record', `${pointer}/attrs`);
  return checkRecord(
    entity.attrs,
    attributes.attributes,
    `${pointer}/attrs`,
    `a ${entity.uid.type}`,
  );
}

/**
 * Checks the context of a request for `action` against the action's context type: exactly its
 * attributes, every required one, each of its type.
 */
export function checkContext(
  context: Readonly<Record<string, unknown>>,
  action: string,
  pointer: string,
): SchemaVerdict {
  const type = CONTEXTS.get(action);
  if (type?.kind !== 'Record') return undefined;
  return checkRecord(context, type.attributes, pointer, 'the context');
}
