/**
 * Every construct the fast evaluator compiles, and its error cases, checked against the official
 * engine on the same inputs: same decision, same determining policies, same erroring policies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fastEngine, referenceEngine, type CedarJson } from '../../../src/policy/engine/index.js';
import { agree, agreeOn, entity, request } from './both.js';

const ENTITIES = [
  entity(
    'User',
    'alice',
    {
      age: 30,
      name: 'Alice',
      roles: ['admin', 'dev'],
      profile: { team: 'ml', level: 3, nested: { deep: true } },
      manager: { __entity: { type: 'User', id: 'bob' } },
      ghost: { __entity: { type: 'User', id: 'nobody' } },
      home: { __extn: { fn: 'ip', arg: '10.1.2.3' } },
      budget: { __extn: { fn: 'decimal', arg: '12.5000' } },
      since: { __extn: { fn: 'datetime', arg: '2024-03-01T12:00:00Z' } },
      record_like: { type: 'User', id: 'bob' },
      big: 9007199254740991,
    },
    [{ type: 'Group', id: 'ml' }],
    { clearance: 'secret', level: 4 },
  ),
  entity('User', 'bob', { age: 50 }, []),
  entity('Group', 'ml', { kind: 'team' }, [{ type: 'Group', id: 'eng' }]),
  entity('Group', 'eng', {}, [{ type: 'Group', id: 'all' }]),
  entity('Photo', 'p', { owner: { __entity: { type: 'User', id: 'alice' } } }, [
    { type: 'Album', id: 'a' },
  ]),
  entity('Action', 'view', {}, [{ type: 'Action', id: 'read' }]),
];

const CONTEXT = {
  ok: true,
  n: 5,
  s: 'hello world',
  list: [1, 2, 3],
  uids: [{ __entity: { type: 'Group', id: 'eng' } }],
  ip: { __extn: { fn: 'ip', arg: '192.168.1.7' } },
  when: { __extn: { fn: 'datetime', arg: '2024-06-01T08:30:00.250+0200' } },
  d: { __extn: { fn: 'duration', arg: '1h30m' } },
  rec: { a: 1, b: [true, false] },
  at: {
    __extn: {
      fn: 'offset',
      args: [
        { __extn: { fn: 'datetime', arg: '2024-01-01' } },
        { __extn: { fn: 'duration', arg: '2d' } },
      ],
    },
  },
};

/** Conditions by construct; each is run as `permit … when { c }` on both engines. */
const CASES: Readonly<Record<string, readonly string[]>> = {
  'booleans, short-circuit and if': [
    'true && false',
    'false && (1 + "a" == 2)',
    'true || (1 + "a" == 2)',
    'false || (1 + "a" == 2)',
    'true && 1',
    '1 && true',
    '!context.ok',
    '!context.n',
    'if context.ok then true else 1 + "a" == 2',
    'if context.n then true else false',
    'if false then 1 else true',
  ],
  'equality across types': [
    '1 == "1"',
    'principal == User::"alice"',
    'principal != User::"bob"',
    '[1, 2, 2] == [2, 1]',
    '{a: 1, b: [true, false]} == context.rec',
    'context.rec == {a: 1}',
    'principal.manager == User::"bob"',
    'principal.record_like == User::"bob"',
    'ip("10.0.0.1") == ip("10.0.0.1/32")',
    'ip("10.0.0.1/24") == ip("10.0.0.0/24")',
    'decimal("1.0") == decimal("1.0000")',
    'datetime("2024-01-01") == datetime("2024-01-01T00:00:00Z")',
    'duration("1h") == duration("60m")',
    'duration("1h") == 3600000',
  ],
  'Long arithmetic and comparison': [
    'context.n + 1 == 6',
    'context.n - 10 < 0',
    'context.n * 3 >= 15',
    '-context.n == -5',
    'principal.big * principal.big > 0',
    'principal.big + principal.big > 0',
    '9007199254740991 * 1024 * 1024 > 0',
    '9007199254740991 * 1024 * 1024 * 2 > 0',
    '9007199254740991 * -1024 * 1024 * 1024 < 0',
    '"a" < "b"',
    'context.n <= "5"',
    'context.n > true',
  ],
  'entity hierarchy and in': [
    'principal in Group::"ml"',
    'principal in Group::"all"',
    'principal in Group::"none"',
    'principal in principal',
    'principal in [Group::"x", Group::"eng"]',
    'principal in context.uids',
    'principal in [Group::"x", 1]',
    'principal in []',
    '1 in [principal]',
    'User::"nobody" in Group::"ml"',
    'action in Action::"read"',
    'resource in Album::"a"',
    'principal in "x"',
  ],
  'attributes and has': [
    'principal.age > 18',
    'principal.nope == 1',
    'principal has nope',
    'principal has age',
    'principal has profile.nested.deep',
    'principal has profile.nested.missing',
    'principal has name.first',
    'principal.profile.nested.deep',
    'principal.ghost has x',
    'principal.ghost.x == 1',
    'resource.owner == principal',
    'context has rec.a',
    'context.rec.c == 1',
    '{a: 1}.a == 1',
    '{a: 1} has b',
    '1 has a',
    '"s".a == 1',
    'principal.manager.age == 50',
  ],
  'strings and like': [
    'context.s like "hello*"',
    'context.s like "*world"',
    'context.s like "h*o*w*d"',
    'context.s like "hello"',
    'context.s like "*"',
    '"a*b" like "a\\*b"',
    '"axb" like "a\\*b"',
    '"" like ""',
    '"é🙂x" like "é*x"',
    '"🙂" like "*"',
    'context.n like "5"',
  ],
  is: [
    'principal is User',
    'principal is Group',
    'principal is User in Group::"eng"',
    'principal is Group in Group::"eng"',
    'context.n is User',
    'principal.manager is User in principal',
  ],
  sets: [
    '[1, 2, 3].contains(2)',
    'context.list.contains(4)',
    'principal.roles.containsAll(["admin"])',
    'principal.roles.containsAny(["x", "dev"])',
    '[].isEmpty()',
    'context.list.isEmpty()',
    '[[1], {a: 2}].contains({a: 2})',
    '[[1], {a: 2}].contains([1, 1])',
    'context.n.contains(1)',
    'context.list.containsAll(1)',
    '[1, context.nope].contains(1)',
    '[principal, User::"bob"].contains(resource.owner)',
  ],
  tags: [
    'principal.hasTag("clearance")',
    'principal.hasTag("x")',
    'principal.getTag("clearance") == "secret"',
    'principal.getTag("level") > 3',
    'principal.getTag("x") == 1',
    'User::"nobody".hasTag("x")',
    'User::"nobody".getTag("x") == 1',
    'principal.hasTag(1)',
    'context.hasTag("x")',
  ],
  ipaddr: [
    'principal.home.isInRange(ip("10.0.0.0/8"))',
    'context.ip.isInRange(ip("10.0.0.0/8"))',
    'ip("127.0.0.1").isLoopback()',
    'ip("::1").isLoopback()',
    'ip("224.1.2.3").isMulticast()',
    'ip("ff02::1").isMulticast()',
    'ip("ff02::1").isIpv6() && !ip("1.2.3.4").isIpv6() && ip("1.2.3.4").isIpv4()',
    'ip("10.0.0.0/8").isInRange(ip("10.0.0.0/16"))',
    'ip("::ffff:1.2.3.4").isIpv6()',
    'ip("01.2.3.4").isIpv4()',
    'ip("1.2.3.4/033").isIpv4()',
    'ip("1:2:3:4:5:6:7:8").isIpv6()',
    'ip("1::2:3:4:5:6:7:8").isIpv6()',
    'ip("::").isIpv6()',
    'ip("bad").isIpv4()',
    'ip(context.s).isIpv4()',
    'ip("1.2.3.4").isInRange(ip("::/0"))',
    'ip("1.2.3.4") < ip("1.2.3.5")',
    'context.ip.isIpv4(1)',
  ],
  decimal: [
    'principal.budget.greaterThan(decimal("12.4999"))',
    'decimal("1.23").lessThan(decimal("1.24"))',
    'decimal("-0.5").lessThanOrEqual(decimal("0.0"))',
    'decimal("1.2").greaterThanOrEqual(decimal("1.20"))',
    'decimal("1.23456").lessThan(decimal("2.0"))',
    'decimal("922337203685477.5807").greaterThan(decimal("0.0"))',
    'decimal("922337203685477.5808").greaterThan(decimal("0.0"))',
    'decimal("1").lessThan(decimal("2.0"))',
    'decimal("1.0") < decimal("2.0")',
    'decimal("1.0").lessThan(1)',
  ],
  'datetime and duration': [
    'context.when < datetime("2024-06-01T07:00:00Z")',
    'context.when.toTime() == duration("6h30m250ms")',
    'context.when.toDate() == datetime("2024-06-01")',
    'datetime("1969-12-31T23:00:00Z").toDate() == datetime("1969-12-31")',
    'datetime("1969-12-31T23:00:00Z").toTime().toHours() == 23',
    'context.d.toMinutes() == 90',
    'context.d.toHours() == 1 && context.d.toDays() == 0 && context.d.toSeconds() == 5400',
    'duration("-1d2h").toMilliseconds() < 0',
    'duration("1ms") <= duration("1s")',
    'context.at == datetime("2024-01-03")',
    'datetime("2024-01-01").offset(duration("1d")) > datetime("2024-01-01")',
    'datetime("2024-01-02").durationSince(datetime("2024-01-01")) == duration("1d")',
    'datetime("2024-02-30") < datetime("2025-01-01")',
    'datetime("2023-02-29") < datetime("2025-01-01")',
    'datetime("2024-02-29T24:00:00Z") < datetime("2025-01-01")',
    'datetime("2024-01-01T00:00:00+2400") < datetime("2025-01-01")',
    'datetime("2024-01-01T00:00:00") < datetime("2025-01-01")',
    'datetime("0000-01-01") < datetime("9999-12-31T23:59:59.999-2359")',
    'duration("") == duration("0ms")',
    'duration("1m1h") == duration("61m")',
    'duration("9223372036854775807ms") > duration("0ms")',
    'duration("9223372036854775808ms") > duration("0ms")',
    'duration("106751991167d") > duration("0ms")',
    'datetime("2024-01-01") < 1',
    'duration("1h") < datetime("2024-01-01")',
  ],
  'records and set literals': [
    '{a: principal.age, b: [context.n]}.b.contains(5)',
    '{a: principal.nope}.a == 1',
    '[principal.nope].isEmpty()',
    '{"key with space": 1}["key with space"] == 1',
  ],
  'extension arity': ['ip() == ip("1.2.3.4")', 'decimal("1.0").lessThan()'],
  // Compound elements of a set are keyed by structure: equal values (whatever their order or
  // spelling) must meet, and values whose keys could be confused must not.
  'sets of compound values': [
    '[{a: 1, b: 2}, {b: 2, a: 1}] == [{a: 1, b: 2}]',
    '[[1, 2], [2, 1]] == [[1, 2]]',
    '[[1, 2], [2, 1, 1]].contains([1, 2])',
    '[context.rec, {b: [false, true], a: 1}] == [context.rec]',
    '[decimal("1.0"), decimal("1.0000")] == [decimal("1.0")]',
    '[ip("10.0.0.1")].contains(ip("10.0.0.1/32"))',
    '[ip("10.0.0.1/24")].contains(ip("10.0.0.0/24"))',
    '[ip("::1")].contains(ip("0:0::1"))',
    '[datetime("2024-01-01"), datetime("2024-01-01T00:00:00Z")] == [datetime("2024-01-01")]',
    '[duration("1h"), duration("60m")].contains(duration("3600s"))',
    '[duration("1h")].contains(datetime("1970-01-01T01:00:00Z"))',
    '[{a: 1}, {a: "1"}].containsAll([{a: "1"}, {a: 1}])',
    '[{a: 1}].contains({a: "1"})',
    '[{a: "x"}].contains({a: ["x"]})',
    '[{a: ["x"]}].contains({a: ["x", "x"]})',
    '[[1]].contains(["i1"])',
    '[["t"]].contains([true])',
    '[{"a,b": 1}].contains({a: 1})',
    '[{"a\\":1,\\"b": 1}].contains({a: 1, b: 1})',
    '[{a: 1, b: 1}].contains({"a\\":1,\\"b": 1})',
    '[["a", "b"]].contains(["a,b"])',
    '[["a", "b"]].contains(["a\\",\\"b"])',
    '[[principal], [User::"alice"]] == [[principal]]',
    '[[principal]].contains([User::"bob"])',
    '[{}, []].contains({})',
    '[{}].contains([])',
    '[[[1, [2]]]].contains([[[2], 1]])',
    '[principal.profile].containsAny([{team: "ml", level: 3, nested: {deep: true}}])',
    '[{a: 1}, {a: 2}].containsAny([{a: 3}, [1]])',
  ],
};

describe('fast evaluator agrees with the official engine', () => {
  for (const [construct, conditions] of Object.entries(CASES)) {
    it(construct, () => {
      for (const c of conditions) agreeOn(c, CONTEXT, ENTITIES);
    });
  }

  it('skips an erroring policy, reports it, and still lets the others decide', () => {
    const policies = {
      ok: 'permit(principal, action, resource) when { principal.age > 18 };',
      bad: 'permit(principal, action, resource) when { principal.nope };',
      badForbid: 'forbid(principal, action, resource) when { principal.nope };',
    };
    const out = agree(policies, request({ context: CONTEXT }), ENTITIES);
    assert.deepEqual(out, { decision: 'allow', reasons: ['ok'], errored: ['bad', 'badForbid'] });
  });

  it('forbid overrides permit; the forbids are the reasons', () => {
    const policies = {
      p: 'permit(principal, action, resource);',
      f1: 'forbid(principal in Group::"eng", action, resource);',
      f2: 'forbid(principal, action, resource) unless { context.ok };',
      f3: 'forbid(principal, action, resource) when { context.ok } unless { context.ok };',
    };
    const out = agree(policies, request({ context: CONTEXT }), ENTITIES);
    assert.deepEqual(out, { decision: 'deny', reasons: ['f1'], errored: [] });
  });

  it('denies by default', () => {
    assert.deepEqual(agree({}, request(), ENTITIES), {
      decision: 'deny',
      reasons: [],
      errored: [],
    });
  });

  it('matches scopes: ==, in, is, is-in, action lists, over the hierarchy', () => {
    const scopes = [
      'principal == User::"alice", action, resource',
      'principal == User::"bob", action, resource',
      'principal in Group::"all", action == Action::"view", resource',
      'principal is User, action in [Action::"x", Action::"read"], resource is Photo',
      'principal is User in Group::"eng", action in Action::"read", resource in Album::"a"',
      'principal is Group, action, resource',
      'principal, action == Action::"edit", resource',
      'principal, action, resource == Photo::"q"',
    ];
    const policies = Object.fromEntries(
      scopes.map((s, i) => [`s${i}`, `permit(${s}) when { context.ok };`]),
    );
    const out = agree(policies, request({ context: CONTEXT }), ENTITIES);
    assert.deepEqual(out.reasons, ['s0', 's2', 's3', 's4']);
  });

  it('multiple when/unless clauses join with && in order', () => {
    agree(
      {
        a: 'permit(principal, action, resource) when { context.ok } when { 1 } unless { false };',
        b: 'permit(principal, action, resource) unless { context.ok } when { 1 };',
        c: 'permit(principal, action, resource) when { context.n > 1 } unless { context.n > 9 };',
      },
      request({ context: CONTEXT }),
      ENTITIES,
    );
  });

  it('answers requests with data outside the modelled subset through the official engine', () => {
    // A fractional number, a null, an invalid extension literal and a duplicate entity.
    agreeOn('context.x == 1', { x: 1.5 });
    agreeOn('context.x == 1', { x: { __extn: { fn: 'decimal', arg: '1.23456' } } });
    agreeOn('true', {}, [entity('U', 'a'), entity('U', 'a')]);
    agreeOn('principal in Group::"a"', {}, [
      entity('User', 'alice', {}, [{ type: 'Group', id: 'a' }]),
      entity('Group', 'a', {}, [{ type: 'User', id: 'alice' }]),
    ]);
    agree(
      { p: 'permit(principal, action, resource);' },
      request({ principal: { type: 'if', id: 'x' } }),
    );
  });

  it('leaves deeply nested data and lone surrogates to the official engine, which refuses them', () => {
    const nested = (depth: number): CedarJson => {
      let v: CedarJson = 'x';
      for (let i = 0; i < depth; i++) v = [v];
      return v;
    };
    // 100 levels: past the evaluator's own bound, still within the official engine's.
    for (const depth of [10, 100, 1000]) {
      const policies = {
        p: 'permit(principal, action, resource) when { context.deep == context.deep };',
      };
      const context = { deep: nested(depth) };
      agree(policies, request({ context }));
      const set = fastEngine.prepare(policies);
      try {
        set.authorize(request({ context }), fastEngine.prepareEntities([]));
      } catch {
        // The official engine's refusal at 1,000 levels: no decision.
      }
      assert.equal(set.stats().requestFallbacks, depth > 64 ? 1 : 0, `depth ${depth}`);
    }
    for (const context of [
      { s: '\ud800' },
      { ['k\udc00']: 1 },
      { u: { __entity: { type: 'User', id: '\ud800' } } },
    ]) {
      const policies = { p: 'permit(principal, action, resource);' };
      assert.throws(() =>
        referenceEngine
          .prepare(policies)
          .authorize(request({ context }), referenceEngine.prepareEntities([])),
      );
      agree(policies, request({ context }));
    }
  });

  it('falls back per policy for what it does not compile, and counts it', () => {
    const set = fastEngine.prepare({
      big: 'permit(principal, action, resource) when { 9223372036854775807 > context.n };',
      small: 'permit(principal, action, resource) when { 1 < context.n };',
    });
    assert.deepEqual(
      { compiled: set.coverage().compiled, fallback: set.coverage().fallback },
      { compiled: 1, fallback: 1 },
    );
    agree(
      {
        big: 'permit(principal, action, resource) when { 9223372036854775807 > context.n };',
        overflow: 'permit(principal, action, resource) when { 9223372036854775807 + 1 > 0 };',
      },
      request({ context: CONTEXT }),
      ENTITIES,
    );
  });
});
