/**
 * Loads Cedar's own integration tests (cedar-policy/cedar-integration-tests): the handwritten
 * tests in `tests/` (with `sample-data/`) and the fuzz-generated corpus in `corpus-tests.tar.gz`,
 * read from `../shared/reference/cedar-integration-tests` beside the repository (never copied in).
 *
 * The corpus is unpacked in memory (node's zlib and a small tar reader: no temp dir, no system
 * `tar`, nothing to clean up), once per process.
 *
 * Inputs are turned into Steward's engine contract (Cedar JSON with explicit `__entity` and
 * `__extn` escapes) the way Cedar's own harness reads them, with the schema: the handwritten
 * tests write entity references as `{type, id}` and extension values as plain strings, and
 * leave the action entities (and their groups) to the schema. The types come from the official
 * engine (`schemaToJsonWithResolvedTypes`); decisions are left to the engine under test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import '../../../src/policy/engine/wasm-guard.js';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type {
  AuthorizationRequest,
  CedarJson,
  Entity,
  EntityUid,
  PolicySource,
} from '../../../src/policy/engine/index.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Where the official tests are: `STEWARD_CEDAR_TESTS_DIR` (a clone of
 * cedar-policy/cedar-integration-tests), else where CI puts them, `shared/` beside the checkout.
 */
export const INTEGRATION_TESTS_DIR = path.resolve(
  REPO_ROOT,
  process.env['STEWARD_CEDAR_TESTS_DIR'] || '../shared/reference/cedar-integration-tests',
);

/**
 * The `skip` option of a test that needs Cedar's integration tests: `false` when they are there,
 * else the reason, so that the runner counts the test as skipped and says why. Under `CI=true`
 * they are mandatory: the test runs, and {@link requireIntegrationTests} fails it.
 */
export function integrationTestsSkip(): string | false {
  if (existsSync(INTEGRATION_TESTS_DIR) || process.env['CI'] === 'true') return false;
  return `Cedar's integration tests are not in ${where()} (optional; docs/policy.md says how to get them)`;
}

function where(): string {
  return process.env['STEWARD_CEDAR_TESTS_DIR'] || path.relative(REPO_ROOT, INTEGRATION_TESTS_DIR);
}

/** Fails the calling test when Cedar's integration tests are missing (under `CI=true`). */
export function requireIntegrationTests(): void {
  if (!existsSync(INTEGRATION_TESTS_DIR)) {
    throw new Error(
      `CI=true, and Cedar's integration tests are not in ${where()}: they are mandatory in CI (see docs/policy.md)`,
    );
  }
}

export interface ExpectedRequest {
  readonly description: string;
  readonly request: AuthorizationRequest;
  readonly validateRequest: boolean;
  readonly decision: 'allow' | 'deny';
  /** Determining policies, compared as a set. */
  readonly reasons: readonly string[];
  /** Policies whose evaluation errored, compared as a set. */
  readonly errors: readonly string[];
  /** Set when the request cannot be expressed in the engine contract (see {@link unsafeReason}). */
  readonly unrepresentable?: string;
}

export interface CedarIntegrationTest {
  /** Path of the test's JSON file inside the integration-tests tree. */
  readonly name: string;
  readonly kind: 'handwritten' | 'corpus';
  readonly policies: PolicySource;
  readonly entities: readonly Entity[];
  readonly schemaText: string;
  readonly shouldValidate: boolean;
  readonly requests: readonly ExpectedRequest[];
  /** Set when the entities cannot be expressed in the engine contract: every request is skipped. */
  readonly unrepresentable?: string;
}

/** Reads a file of the integration-tests tree by its path there (`sample-data/…`, `corpus-tests/…`). */
type TreeReader = (relative: string) => string;

// ---------------------------------------------------------------------------------------------
// The tarball, in memory

/** Unpacks a gzipped tar of regular files into a map from path (without `./`) to text. */
export function readTarGz(file: string): Map<string, string> {
  const tar = gunzipSync(readFileSync(file));
  const files = new Map<string, string>();
  const text = (start: number, length: number): string => {
    const bytes = tar.subarray(start, start + length);
    const end = bytes.indexOf(0);
    return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
  };
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    if (tar[offset] === 0) break; // the two zero blocks that end the archive
    const size = parseInt(text(offset + 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(tar[offset + 156] ?? 0);
    const prefix = text(offset + 345, 155);
    let name = longName ?? (prefix ? `${prefix}/${text(offset, 100)}` : text(offset, 100));
    longName = undefined;
    const body = tar.subarray(offset + 512, offset + 512 + size);
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0+$/, '');
    } else if (type === 'x') {
      const pathRecord = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      if (pathRecord?.[1] !== undefined) longName = pathRecord[1];
    } else if (type === '0' || type === '\0') {
      name = name.replace(/^\.\//, '');
      files.set(name, body.toString('utf8'));
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// JSON that keeps track of integers JavaScript numbers cannot hold

const UNSAFE_MARK = '\u0000unsafe-integer:';

/**
 * Parses JSON, turning every integer beyond ±2^53 into a marked string instead of a rounded
 * number: Cedar's Longs are i64, but the engine contract (and cedar-wasm's JS binding, which
 * refuses such numbers and BigInts alike) carries JSON numbers, so these inputs cannot be sent.
 */
function parseJsonMarkingUnsafe(text: string): unknown {
  const marked = text.replace(
    /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g,
    (token: string): string => {
      if (token.startsWith('"') || !/^-?\d+$/.test(token)) return token;
      return Number.isSafeInteger(Number(token)) ? token : JSON.stringify(UNSAFE_MARK + token);
    },
  );
  return JSON.parse(marked);
}

function unsafeReason(value: unknown): string | undefined {
  if (typeof value === 'string') {
    return value.startsWith(UNSAFE_MARK)
      ? `integer ${value.slice(UNSAFE_MARK.length)} is beyond ±2^53 (JSON numbers in the contract)`
      : undefined;
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const reason = unsafeReason(item);
      if (reason) return reason;
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) {
      const reason = unsafeReason(item);
      if (reason) return reason;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Policies: Cedar names the policies of a file policy0, policy1, … in source order

/**
 * Splits a policy file into policies named as Cedar's own harness names them
 * (`PolicySet::from_str`): `policy<i>` for the i-th policy in the file.
 */
export function splitPolicies(text: string): PolicySource {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') {
    throw new Error(`policies do not parse: ${parts.errors.map((e) => e.message).join('; ')}`);
  }
  if (parts.policy_templates.length > 0) throw new Error('templates are not supported');
  // policySetTextToParts returns the policies sorted by id, and ids sort as strings.
  const ids = parts.policies.map((_, i) => `policy${i}`).sort();
  const policies: Record<string, string> = {};
  parts.policies.forEach((policy, i) => {
    const id = ids[i];
    if (id === undefined) throw new Error('policy ids out of step');
    policies[id] = policy;
  });
  return policies;
}

// ---------------------------------------------------------------------------------------------
// Schema-directed reading of entities and contexts

type SchemaType = cedar.Type<string>;

interface SchemaInfo {
  readonly entityShape: Map<string, SchemaType | undefined>;
  readonly entityTags: Map<string, SchemaType | undefined>;
  readonly commonTypes: Map<string, SchemaType>;
  readonly actionContext: Map<string, SchemaType | undefined>;
  readonly actions: readonly Entity[];
}

const EXTENSION_FN: Readonly<Record<string, string>> = {
  ipaddr: 'ip',
  decimal: 'decimal',
  datetime: 'datetime',
  duration: 'duration',
};

function uidKey(uid: EntityUid): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

function qualify(namespace: string, name: string): string {
  return namespace === '' || name.includes('::') ? name : `${namespace}::${name}`;
}

function readSchema(schemaText: string): SchemaInfo {
  const answer = cedar.schemaToJsonWithResolvedTypes(schemaText);
  if (answer.type === 'failure') {
    throw new Error(`schema does not parse: ${answer.errors.map((e) => e.message).join('; ')}`);
  }
  const info: SchemaInfo = {
    entityShape: new Map(),
    entityTags: new Map(),
    commonTypes: new Map(),
    actionContext: new Map(),
    actions: [],
  };
  const actions: Entity[] = [];
  for (const [namespace, definition] of Object.entries(answer.json)) {
    for (const [name, type] of Object.entries(definition.commonTypes ?? {})) {
      info.commonTypes.set(qualify(namespace, name), type);
    }
    for (const [name, type] of Object.entries(definition.entityTypes)) {
      const standard = 'enum' in type ? undefined : type;
      info.entityShape.set(qualify(namespace, name), standard?.shape);
      info.entityTags.set(qualify(namespace, name), standard?.tags);
    }
    const actionType = qualify(namespace, 'Action');
    for (const [id, action] of Object.entries(definition.actions)) {
      const uid = { type: actionType, id };
      info.actionContext.set(uidKey(uid), action.appliesTo?.context);
      actions.push({
        uid,
        attrs: {},
        parents: (action.memberOf ?? []).map((parent) => ({
          type: parent.type === undefined ? actionType : qualify(namespace, parent.type),
          id: parent.id,
        })),
      });
    }
  }
  return { ...info, actions };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Rewrites a value of the given schema type into explicit Cedar JSON. */
function conform(value: unknown, type: SchemaType | undefined, schema: SchemaInfo): unknown {
  if (type === undefined) return value;
  const name = type.type;
  switch (name) {
    case 'Set': {
      const element = (type as { element: SchemaType }).element;
      return Array.isArray(value) ? value.map((item) => conform(item, element, schema)) : value;
    }
    case 'Record': {
      if (!isRecord(value)) return value;
      const attributes = (type as cedar.RecordType<string>).attributes;
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        out[key] = conform(item, attributes[key], schema);
      }
      return out;
    }
    case 'Entity':
    case 'EntityOrCommon': {
      const target = (type as { name: string }).name;
      const common = schema.commonTypes.get(target);
      if (name === 'EntityOrCommon' && common) return conform(value, common, schema);
      if (isRecord(value) && !('__entity' in value) && 'type' in value && 'id' in value) {
        return { __entity: { type: value['type'], id: value['id'] } };
      }
      return value;
    }
    case 'Extension':
      return conformExtension(value, (type as { name: string }).name);
    case 'String':
    case 'Long':
    case 'Bool':
    case 'Boolean':
      return value;
    default: {
      const bare = name.replace(/^__cedar::/, '');
      if (bare in EXTENSION_FN) return conformExtension(value, bare);
      const common = schema.commonTypes.get(name);
      return common ? conform(value, common, schema) : value;
    }
  }
}

function conformExtension(value: unknown, extension: string): unknown {
  const fn = EXTENSION_FN[extension.replace(/^__cedar::/, '')];
  if (fn === undefined) return value;
  if (typeof value === 'string') return { __extn: { fn, arg: value } };
  if (isRecord(value) && !('__extn' in value) && 'fn' in value) return { __extn: value };
  return value;
}

function conformEntities(raw: unknown, schema: SchemaInfo): Entity[] {
  if (!Array.isArray(raw)) throw new Error('entities file is not an array');
  const entities = raw.map((item: unknown): Entity => {
    if (!isRecord(item)) throw new Error('entity is not an object');
    const uid = item['uid'] as EntityUid;
    const shape = schema.entityShape.get(uid.type);
    const tagType = schema.entityTags.get(uid.type);
    const attrs = isRecord(shape)
      ? (conform(item['attrs'] ?? {}, shape, schema) as Record<string, CedarJson>)
      : ((item['attrs'] ?? {}) as Record<string, CedarJson>);
    const entity: Entity = {
      uid,
      attrs,
      parents: (item['parents'] ?? []) as EntityUid[],
    };
    if (!isRecord(item['tags'])) return entity;
    const tags: Record<string, CedarJson> = {};
    for (const [key, tag] of Object.entries(item['tags'])) {
      tags[key] = conform(tag, tagType, schema) as CedarJson;
    }
    return { ...entity, tags };
  });
  const present = new Set(entities.map((entity) => uidKey(entity.uid)));
  for (const action of schema.actions) {
    if (!present.has(uidKey(action.uid))) entities.push(action);
  }
  return entities;
}

// ---------------------------------------------------------------------------------------------
// Tests

interface RawRequest {
  readonly description?: string;
  readonly principal?: EntityUid;
  readonly action?: EntityUid;
  readonly resource?: EntityUid;
  readonly context?: unknown;
  readonly validateRequest?: boolean;
  readonly decision: string;
  readonly reason?: readonly string[];
  readonly errors?: readonly (string | { readonly policyId: string })[];
}

interface RawTest {
  readonly policies: string;
  readonly entities: string;
  readonly schema: string;
  readonly shouldValidate: boolean;
  readonly requests: readonly RawRequest[];
}

function loadTest(name: string, kind: CedarIntegrationTest['kind'], read: TreeReader) {
  const raw = parseJsonMarkingUnsafe(read(name)) as RawTest;
  const schemaText = read(raw.schema);
  const schema = readSchema(schemaText);
  const rawEntities = parseJsonMarkingUnsafe(read(raw.entities));
  const entitiesUnsafe = unsafeReason(rawEntities);
  const requests = raw.requests.map((r, i): ExpectedRequest => {
    const missing = (['principal', 'action', 'resource'] as const).filter((k) => !r[k]);
    const unrepresentable =
      missing.length > 0
        ? `no ${missing.join(', ')} (unspecified entities are gone from Cedar 4)`
        : unsafeReason(r.context);
    const unknownUid = { type: '__unspecified', id: '' };
    const action = r.action ?? unknownUid;
    const context = conform(r.context ?? {}, schema.actionContext.get(uidKey(action)), schema);
    const request: AuthorizationRequest = {
      principal: r.principal ?? unknownUid,
      action,
      resource: r.resource ?? unknownUid,
      context: context as Record<string, CedarJson>,
    };
    const expected: ExpectedRequest = {
      description: r.description ?? `request ${i}`,
      request,
      validateRequest: r.validateRequest ?? true,
      decision: r.decision.toLowerCase() === 'allow' ? 'allow' : 'deny',
      reasons: r.reason ?? [],
      errors: (r.errors ?? []).map((e) => (typeof e === 'string' ? e : e.policyId)),
    };
    return unrepresentable === undefined ? expected : { ...expected, unrepresentable };
  });
  const test: CedarIntegrationTest = {
    name,
    kind,
    policies: splitPolicies(read(raw.policies)),
    entities: entitiesUnsafe === undefined ? conformEntities(rawEntities, schema) : [],
    schemaText,
    shouldValidate: raw.shouldValidate,
    requests,
  };
  return entitiesUnsafe === undefined ? test : { ...test, unrepresentable: entitiesUnsafe };
}

function listJson(dir: string, relative: string): string[] {
  return readdirSync(path.join(dir, relative), { withFileTypes: true }).flatMap((entry) => {
    const child = `${relative}/${entry.name}`;
    if (entry.isDirectory()) return listJson(dir, child);
    return entry.name.endsWith('.json') ? [child] : [];
  });
}

/** The handwritten tests (`tests/**.json`), sorted by path. */
export function loadHandwrittenTests(dir = INTEGRATION_TESTS_DIR): CedarIntegrationTest[] {
  const read: TreeReader = (relative) => readFileSync(path.join(dir, relative), 'utf8');
  return listJson(dir, 'tests')
    .sort()
    .map((name) => loadTest(name, 'handwritten', read));
}

/** The corpus tests (`corpus-tests/<hash>.json` in the tarball), sorted by path. */
export function loadCorpusTests(dir = INTEGRATION_TESTS_DIR): CedarIntegrationTest[] {
  const files = readTarGz(path.join(dir, 'corpus-tests.tar.gz'));
  const read: TreeReader = (relative) => {
    const text = files.get(relative.replace(/^\.\//, ''));
    if (text === undefined) throw new Error(`${relative} is not in corpus-tests.tar.gz`);
    return text;
  };
  return [...files.keys()]
    .filter((name) => name.endsWith('.json') && !name.endsWith('.entities.json'))
    .sort()
    .map((name) => loadTest(name, 'corpus', read));
}
