/**
 * The JS schema checks of a decision request (`src/policy/request-check.ts`) against the official
 * parser (`checkParseEntities`/`checkParseContext`), the reference: seeded random described
 * entities and contexts, valid and not (missing, extra and mistyped attributes, wrong and unknown
 * parents, ip/datetime/decimal/duration values near and far from valid, sets, records, nesting,
 * Cedar's escapes, nulls, fractions and huge numbers). Every verdict the JS checks give must be
 * the official one; what they leave undecided goes to the official parser in production.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { checkContext, checkEntity } from '../../src/policy/request-check.js';
import { ACTIONS, actionUid, SCHEMA_JSON, SCHEMA_TEXT } from '../../src/policy/index.js';
import { Rng } from './conformance/generator.js';

const SEED = 0x5eed_0011;
const CASES = 2_000;

type Json = unknown;

interface TypeJson {
  readonly type: string;
  readonly name?: string;
  readonly element?: TypeJson;
  readonly attributes?: Readonly<Record<string, TypeJson & { readonly required?: boolean }>>;
}
const ns = (SCHEMA_JSON as unknown as Record<string, Record<string, unknown>>)['Steward'] as {
  commonTypes: Record<string, TypeJson>;
  entityTypes: Record<string, { memberOfTypes?: string[]; shape?: TypeJson }>;
};

const ENTITY_TYPES = Object.keys(ns.entityTypes).map((t) => `Steward::${t}`);
const PARENT_TYPES = [
  ...ENTITY_TYPES,
  'Steward::Action',
  'Steward::Nope',
  'Other::Team',
  'Team',
  'Steward::',
  'Steward::Team ',
  '',
];

const IPS = ['10.0.0.1', '192.168.1.0/24', '::1', '1:2:3:4:5:6:7:8', 'fe80::/10', '::'];
const DATETIMES = [
  '2026-03-10',
  '2026-03-10T14:30:00Z',
  '2026-03-10T14:30:00.123Z',
  '2024-02-29T23:59:59+0100',
  '2026-12-31T00:00:00.000-2359',
];
const DECIMALS = ['1.0', '-12.3456', '922337203685477.5807', '0.1'];
const DURATIONS = ['1h', '-10m', '1d2h3m4s5ms', '0ms'];
const EXTENSIONS = {
  ipaddr: ['ip', IPS],
  datetime: ['datetime', DATETIMES],
  decimal: ['decimal', DECIMALS],
  duration: ['duration', DURATIONS],
} as const;
const NOISE = ['0123456789:./-+TZaf% '.split(''), 'ff', '::', '00', '999'].flat();

/** A valid sample, sometimes one character changed, dropped or added: near the edge of validity. */
function nearly(rng: Rng, samples: readonly string[]): string {
  let s = rng.pick(samples);
  const edits = rng.chance(0.45) ? rng.int(1, 2) : 0;
  for (let e = 0; e < edits; e++) {
    const at = rng.int(0, s.length);
    const kind = rng.int(0, 2);
    if (kind === 0) s = s.slice(0, at) + rng.pick(NOISE) + s.slice(at);
    else if (kind === 1) s = s.slice(0, at) + s.slice(at + 1);
    else s = s.slice(0, at) + rng.pick(NOISE) + s.slice(at + 1);
  }
  return s;
}

function extension(rng: Rng, name?: keyof typeof EXTENSIONS): Json {
  const ext = name ?? rng.pick(Object.keys(EXTENSIONS) as (keyof typeof EXTENSIONS)[]);
  const [fn, samples] = EXTENSIONS[ext];
  const roll = rng.next();
  if (roll < 0.8) return { __extn: { fn, arg: nearly(rng, samples) } };
  if (roll < 0.85) return { fn, arg: nearly(rng, samples) };
  if (roll < 0.9) return nearly(rng, samples);
  if (roll < 0.93) return { __extn: { fn: 'unknownFn', arg: rng.pick(samples) } };
  if (roll < 0.96) return { __extn: { fn, arg: rng.pick(samples), extra: 1 } };
  return {
    __extn: {
      fn: 'offset',
      args: [
        { __extn: { fn: 'datetime', arg: DATETIMES[0] } },
        { __extn: { fn: 'duration', arg: '1h' } },
      ],
    },
  };
}

const STRINGS = [
  '',
  'x',
  'refund',
  'crm/refund',
  '€ and 𝄞',
  'a"b\\c',
  'sandbox',
  '10.0.0.1',
  'true',
  '42',
];

/** Any JSON value, of any kind Cedar's JSON format has or refuses. */
function anyValue(rng: Rng, depth = 0): Json {
  const kinds = depth > 3 ? 9 : 14;
  switch (rng.int(0, kinds)) {
    case 0:
    case 1:
      return rng.pick(STRINGS);
    case 2:
      return rng.int(-1000, 1000);
    case 3:
      return rng.pick([2 ** 53, -(2 ** 63), 2 ** 63, 1.5, -0, 1e21, Infinity]);
    case 4:
      return rng.chance(0.5);
    case 5:
      return null;
    case 6:
    case 7:
      return extension(rng);
    case 8:
      return { __entity: { type: rng.pick(PARENT_TYPES), id: rng.pick(STRINGS) } };
    case 9:
      return rng.pick([
        { type: 'Steward::Team', id: 'a' },
        { __expr: 'true' },
        {},
        { __entity: 'x' },
      ]);
    default: {
      if (rng.chance(0.5))
        return Array.from({ length: rng.int(0, 3) }, () => anyValue(rng, depth + 1));
      const out: Record<string, Json> = {};
      for (let i = rng.int(0, 3); i > 0; i--)
        out[rng.pick(['name', 'value', 'a', 'b'])] = anyValue(rng, depth + 1);
      return out;
    }
  }
}

function named(name: string): TypeJson {
  return ns.commonTypes[name] ?? { type: name };
}

/** A valid value of `type`. */
function validValue(rng: Rng, type: TypeJson): Json {
  const t = type.type === 'EntityOrCommon' ? named(type.name ?? '') : type;
  switch (t.type) {
    case 'String':
      return rng.pick(STRINGS);
    case 'Bool':
    case 'Boolean':
      return rng.chance(0.5);
    case 'Long':
      return rng.int(-5, 5);
    case 'Set':
      return Array.from({ length: rng.int(0, 3) }, () =>
        validValue(rng, t.element ?? { type: 'String' }),
      );
    case 'Record':
      return validRecord(rng, t);
    case 'ipaddr':
    case 'datetime':
    case 'decimal':
    case 'duration': {
      const [fn, samples] = EXTENSIONS[t.type];
      return { __extn: { fn, arg: rng.pick(samples) } };
    }
    default:
      throw new Error(`no generator for ${JSON.stringify(t)}`);
  }
}

function validRecord(rng: Rng, type: TypeJson): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [name, attribute] of Object.entries(type.attributes ?? {})) {
    if (attribute.required === false && rng.chance(0.5)) continue;
    out[name] = validValue(rng, attribute);
  }
  return out;
}

/** `value` with a few mistakes, or none: an attribute dropped, added or replaced, deep or not. */
function mutate(rng: Rng, value: Json, depth = 0): Json {
  if (!rng.chance(depth === 0 ? 0.7 : 0.4)) return value;
  if (Array.isArray(value)) {
    const copy: Json[] = [...(value as Json[])];
    if (copy.length > 0 && rng.chance(0.7)) {
      const i = rng.int(0, copy.length - 1);
      copy[i] = rng.chance(0.5) ? mutate(rng, copy[i], depth + 1) : anyValue(rng, depth + 1);
    } else copy.push(anyValue(rng, depth + 1));
    return copy;
  }
  if (typeof value === 'object' && value !== null && !('__extn' in value)) {
    const copy: Record<string, Json> = { ...(value as Record<string, Json>) };
    const names = Object.keys(copy);
    const roll = rng.next();
    if (roll < 0.25 && names.length > 0) {
      const dropped = rng.pick(names);
      return Object.fromEntries(Object.entries(copy).filter(([name]) => name !== dropped));
    }
    if (roll < 0.45)
      copy[rng.pick(['extra', 'Name', 'colour', 'name', 'time', 'task', '__extn'])] = anyValue(rng);
    else if (names.length > 0) {
      const name = rng.pick(names);
      copy[name] = rng.chance(0.5) ? mutate(rng, copy[name], depth + 1) : anyValue(rng, depth + 1);
    }
    return copy;
  }
  return anyValue(rng, depth + 1);
}

function randomEntity(rng: Rng, i: number) {
  const type = rng.pick(ENTITY_TYPES);
  const declared = ns.entityTypes[type.slice('Steward::'.length)];
  const members = (declared?.memberOfTypes ?? []).map((t) => `Steward::${t}`);
  const parents = Array.from({ length: rng.int(0, 3) }, () => ({
    type: rng.chance(0.7) && members.length > 0 ? rng.pick(members) : rng.pick(PARENT_TYPES),
    id: rng.pick(STRINGS),
  }));
  const attrs = mutate(rng, validRecord(rng, declared?.shape ?? { type: 'Record' }));
  return { uid: { type, id: `e${i}` }, attrs, parents };
}

function randomContext(rng: Rng): Record<string, Json> {
  const context = validRecord(rng, named('RequestContext'));
  for (const ext of ['time', 'clientAddress'] as const) {
    if (ext in context && rng.chance(0.4))
      context[ext] = extension(rng, ext === 'time' ? 'datetime' : 'ipaddr');
  }
  const mutated = mutate(rng, context);
  return typeof mutated === 'object' && mutated !== null && !Array.isArray(mutated)
    ? (mutated as Record<string, Json>)
    : context;
}

const actions = Object.keys(ACTIONS);

function officialEntity(entity: unknown, schema: cedar.Schema = SCHEMA_JSON): boolean {
  return (
    cedar.checkParseEntities({ entities: [entity as cedar.EntityJson], schema }).type === 'success'
  );
}
function officialContext(
  context: unknown,
  action: string,
  schema: cedar.Schema = SCHEMA_JSON,
): boolean {
  return (
    cedar.checkParseContext({
      context: context as cedar.Context,
      schema,
      action: actionUid(action),
    }).type === 'success'
  );
}

describe('request schema checks in JS, against the official parser', () => {
  it(`give the official verdict on ${CASES} random described entities, and decide most`, () => {
    const rng = new Rng(SEED);
    const disagreements: string[] = [];
    let decided = 0;
    let accepted = 0;
    for (let i = 0; i < CASES; i++) {
      const entity = randomEntity(rng, i);
      const mine = checkEntity(entity, '/body/resource');
      const official = officialEntity(entity);
      if (official) accepted++;
      if (mine === undefined) continue;
      decided++;
      if (mine.ok !== official) {
        disagreements.push(
          `${JSON.stringify(entity)}: JS ${JSON.stringify(mine)}, official ${official}`,
        );
      }
      if (!mine.ok) assert.match(mine.pointer, /^\/body\/resource(\/|$)/);
    }
    assert.deepEqual(disagreements.slice(0, 5), [], `${disagreements.length} disagreements`);
    // Both verdicts are well represented, and the JS checks leave little to the official parser.
    assert.ok(accepted > CASES * 0.2 && accepted < CASES * 0.8, `accepted ${accepted}`);
    assert.ok(decided > CASES * 0.9, `decided ${decided} of ${CASES}`);
  });

  it(`give the official verdict on ${CASES} random contexts, and decide most`, () => {
    const rng = new Rng(SEED + 1);
    const disagreements: string[] = [];
    let decided = 0;
    let accepted = 0;
    for (let i = 0; i < CASES; i++) {
      const context = randomContext(rng);
      const action = rng.pick(actions);
      const mine = checkContext(context, action, '/body/context');
      const official = officialContext(context, action);
      if (official) accepted++;
      if (mine === undefined) continue;
      decided++;
      if (mine.ok !== official) {
        disagreements.push(
          `${JSON.stringify(context)}: JS ${JSON.stringify(mine)}, official ${official}`,
        );
      }
    }
    assert.deepEqual(disagreements.slice(0, 5), [], `${disagreements.length} disagreements`);
    assert.ok(accepted > CASES * 0.2 && accepted < CASES * 0.8, `accepted ${accepted}`);
    assert.ok(decided > CASES * 0.85, `decided ${decided} of ${CASES}`);
  });

  it('the reference gives the same verdicts with the schema in JSON and in Cedar syntax', () => {
    const rng = new Rng(SEED + 2);
    for (let i = 0; i < 150; i++) {
      const entity = randomEntity(rng, i);
      assert.equal(
        officialEntity(entity),
        officialEntity(entity, SCHEMA_TEXT),
        JSON.stringify(entity),
      );
      const context = randomContext(rng);
      assert.equal(
        officialContext(context, 'invoke_tool'),
        officialContext(context, 'invoke_tool', SCHEMA_TEXT),
        JSON.stringify(context),
      );
    }
  });

  it('point at the first problem, in words', () => {
    const tool = (attrs: unknown, parents = [{ type: 'Steward::Upstream', id: 'crm' }]) =>
      checkEntity(
        { uid: { type: 'Steward::Tool', id: 'crm/x' }, attrs, parents },
        '/body/resource',
      );
    assert.deepEqual(tool({ name: 'x', upstream: 'crm', sensitive: true }), { ok: true });
    assert.deepEqual(tool({ name: 'x', upstream: 'crm' }), {
      ok: false,
      pointer: '/body/resource/attrs',
      detail: 'a Steward::Tool lacks the required attribute "sensitive"',
    });
    assert.deepEqual(tool({ name: 'x', upstream: 'crm', sensitive: 'yes' }), {
      ok: false,
      pointer: '/body/resource/attrs/sensitive',
      detail: '/body/resource/attrs/sensitive must be a boolean, not a string',
    });
    assert.equal(tool({ name: 'x', upstream: 'crm', sensitive: true, colour: 'red' })?.ok, false);
    assert.deepEqual(
      tool({ name: 'x', upstream: 'crm', sensitive: true }, [
        { type: 'Steward::Service', id: 's' },
      ]),
      {
        ok: false,
        pointer: '/body/resource/parents/0/type',
        detail:
          'a Steward::Tool may be in Steward::Upstream, Steward::Team, not "Steward::Service"',
      },
    );
    const context = (extra: Record<string, unknown>) =>
      checkContext(
        {
          environment: 'sandbox',
          time: { __extn: { fn: 'datetime', arg: '2026-03-10T14:30:00.000Z' } },
          ...extra,
        },
        'invoke_tool',
        '/body/context',
      );
    assert.deepEqual(context({}), { ok: true });
    assert.deepEqual(context({ clientAddress: { __extn: { fn: 'ip', arg: 'not-an-ip' } } }), {
      ok: false,
      pointer: '/body/context/clientAddress',
      detail: '/body/context/clientAddress: "not-an-ip" is not a valid ipaddr',
    });
    assert.equal(context({ method: 5 })?.ok, false);
    assert.equal(context({ colour: 'red' })?.ok, false);
    assert.deepEqual(context({ task: null }), {
      ok: false,
      pointer: '/body/context/task',
      detail: '/body/context/task is null: Cedar has no null',
    });
    // An address in another spelling than `__extn` is the official parser's to read.
    assert.equal(context({ clientAddress: { fn: 'ip', arg: '10.0.0.1' } }), undefined);
  });
});
