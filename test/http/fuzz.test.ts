/**
 * Bad input on every route, on both databases: malformed JSON, wrong types for each field, huge
 * strings, unicode tricks, SQL metacharacters, junk and traversal in path ids, unknown fields,
 * wrong content types, forged cursors. Every answer must be a 4xx problem+json with a stable code
 * and the request id and nothing from the inside, and the database (audit trail included) must be
 * exactly as it was.
 *
 * The fields come from the OpenAPI document, which the route schemas generate, so a field added
 * to a route is fuzzed without touching this file. Random cases come from a seeded generator:
 * the same cases every run.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { encodeCursor } from '../../src/shared/cursor.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { testDatabases } from '../support/databases.js';
import {
  assertProblem,
  countRows,
  dumpDatabase,
  fixtureFor,
  OWNER_TEAM,
  routeKey,
} from './fixtures.js';

interface JsonSchema {
  readonly type?: string;
  readonly pattern?: string;
  readonly format?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly maxItems?: number;
  readonly enum?: readonly unknown[];
  readonly anyOf?: readonly JsonSchema[];
  readonly items?: JsonSchema;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
}

interface Operation {
  readonly parameters?: readonly { in: string; name: string; schema: JsonSchema }[];
  readonly requestBody?: { content: { 'application/json': { schema: JsonSchema } } };
}

interface Case {
  readonly label: string;
  readonly request: InjectOptions;
  readonly status?: number;
  readonly code?: string;
}

/** mulberry32: a tiny seeded PRNG, so "random" cases are the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(text: string): number {
  let hash = 2166136261;
  for (const char of text) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 16777619);
  return hash >>> 0;
}

/** Characters no string field may hold: NUL, other controls, bidi overrides and isolates. */
const FORBIDDEN_CHARS = ['\u0000', '\u0007', '\u001b', '\u007f', '\u202e', '\u202a', '\u2066'];

/** Looks valid to a person, is not a valid identifier: every name, id and enum must refuse it. */
const IDENTIFIER_TRICKS: readonly [string, string][] = [
  ['uppercase', 'Payments'],
  ['fullwidth', 'ｐａｙｍｅｎｔｓ'],
  ['cyrillic homoglyph', 'pаyments'],
  ['zero-width joiner', 'pay\u200dments'],
  ['zero-width space', 'pay\u200bments'],
  ['RTL override', '\u202epayments'],
  ['NUL', 'payments\u0000'],
  ['trailing newline', 'payments\n'],
  ['inner newline', 'pay\nments'],
  ['SQL injection', "'; drop table teams; --"],
  ['SQL quote', "payments' or '1'='1"],
  ['LIKE wildcard %', '%'],
  ['LIKE wildcard _', '_'],
  ['dot-dot', '..'],
  ['path traversal', '../../etc/passwd'],
  ['empty segment', 'a//b'],
  ['leading slash', '/payments'],
  ['space', 'pay ments'],
  ['empty', ''],
  ['combining accent', 'paýments'],
  ['emoji', 'pay💸'],
  ['lone surrogate', 'pay\ud800'],
];

function enumValues(schema: JsonSchema): string[] {
  const direct = (schema.enum ?? []).filter((v): v is string => typeof v === 'string');
  return [...direct, ...(schema.anyOf ?? []).flatMap(enumValues)];
}

function typeOf(schema: JsonSchema): string {
  if (schema.type !== undefined) return schema.type;
  const inner = schema.anyOf?.map(typeOf) ?? [];
  return inner.every((t) => t === inner[0]) ? (inner[0] ?? 'unknown') : 'mixed';
}

const SAFE_TEXT_MARK = '\\u202A-\\u202E';

/** A name, id, enum or formatted string: a closed language, not free text. */
function isIdentifierLike(schema: JsonSchema): boolean {
  return (
    enumValues(schema).length > 0 ||
    schema.format !== undefined ||
    (schema.pattern !== undefined && !schema.pattern.includes(SAFE_TEXT_MARK))
  );
}

/** JSON values a field of `schema` must refuse. */
function badJsonValues(schema: JsonSchema, random: () => number): [string, unknown][] {
  const type = typeOf(schema);
  const values: [string, unknown][] = [
    ['null', null],
    ['object', { $gt: '' }],
    ['nested array', [[['deep']]]],
  ];
  if (type !== 'boolean') values.push(['boolean', true]);
  if (type !== 'string') values.push(['string', 'text'], ['empty string', '']);
  if (type !== 'integer') values.push(['number', 42], ['float', 4.2]);
  if (type !== 'array') values.push(['array of strings', ['a', 'b']], ['empty array', []]);
  if (type === 'string') {
    for (const [label, value] of badStrings(schema, random)) values.push([label, value]);
  }
  if (type === 'integer') {
    values.push(['numeric string', '600'], ['fraction', 600.5], ['huge', 1e308]);
    values.push(['negative', -1], ['NaN-ish string', 'NaN']);
    if (schema.minimum !== undefined) values.push(['below minimum', schema.minimum - 1]);
    if (schema.maximum !== undefined) values.push(['above maximum', schema.maximum + 1]);
  }
  if (type === 'boolean') values.push(['string "true"', 'true'], ['number 1', 1]);
  if (type === 'array') {
    const items = schema.items ?? {};
    const first = enumValues(items)[0] ?? 'x';
    values.push(['bare item', first], ['array of numbers', [1]], ['array of nulls', [null]]);
    values.push(['duplicate items', [first, first]], ['unknown item', ['staging']]);
    if (schema.maxItems !== undefined)
      values.push(['too many items', Array.from({ length: schema.maxItems + 1 }, () => first)]);
    for (const [label, value] of badStrings(items, random).slice(0, 8))
      values.push([`item ${label}`, [value]]);
  }
  return values;
}

/** Strings a string field of `schema` must refuse. */
function badStrings(schema: JsonSchema, random: () => number): [string, string][] {
  const values: [string, string][] = [];
  const sample = enumValues(schema)[0] ?? 'payments';
  for (const char of FORBIDDEN_CHARS) {
    values.push([
      `contains U+${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
      `a${char}b`,
    ]);
  }
  if (schema.maxLength !== undefined) {
    values.push(['one past maxLength', 'a'.repeat(schema.maxLength + 1)]);
    values.push(['far past maxLength', 'a'.repeat(Math.min(schema.maxLength * 8 + 8, 40_000))]);
  } else {
    values.push(['huge', 'a'.repeat(40_000)]);
  }
  if (schema.minLength !== undefined && schema.minLength > 0) values.push(['empty', '']);
  if (isIdentifierLike(schema)) {
    for (const [label, value] of IDENTIFIER_TRICKS) values.push([label, value]);
    values.push(['enum-like uppercase', sample.toUpperCase()], ['padded', ` ${sample} `]);
  }
  if (schema.format === 'email') {
    values.push(['not an email', 'grace.example.com'], ['two ats', 'a@b@example.com']);
    values.push(['header injection', 'a@example.com\r\nbcc: x@example.com']);
  }
  if (schema.format === 'uri') {
    values.push(['javascript: URL', 'javascript:alert(1)'], ['file URL', 'file:///etc/passwd']);
    values.push(['no scheme', 'runbooks.example.com'], ['ftp URL', 'ftp://example.com/x']);
  }
  if (schema.format === 'date-time') {
    values.push(['words', 'yesterday'], ['month 13', '2026-13-01T00:00:00Z']);
    values.push(['date only', '2026-01-01'], ['February 30', '2026-02-30T00:00:00Z']);
    // Valid RFC 3339 whose UTC instant falls outside years 1–9999, which PostgreSQL cannot compare.
    values.push(['year 0', '0000-06-01T00:00:00Z'], ['before year 1', '0001-01-01T00:00:00+00:01']);
    values.push(['after year 9999', '9999-12-31T23:59:59-23:59']);
  }
  // Seeded random strings: a plausible prefix with a forbidden character somewhere inside.
  const alphabet = ['a', 'Z', '0', '-', '.', '/', '%', "'", '"', '\\', ';', 'é', 'ｂ', '\u200d'];
  for (let n = 0; n < 3; n++) {
    const length = 1 + Math.floor(random() * 24);
    let text = '';
    for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)] ?? '';
    const bad = FORBIDDEN_CHARS[Math.floor(random() * FORBIDDEN_CHARS.length)] ?? '\u0000';
    const at = Math.floor(random() * (text.length + 1));
    values.push([`random #${n}`, text.slice(0, at) + bad + text.slice(at)]);
  }
  return values;
}

/** Query-string values a query parameter of `schema` must refuse (as raw text). */
function badQueryValues(
  name: string,
  schema: JsonSchema,
  random: () => number,
): [string, string][] {
  const type = typeOf(schema);
  if (type === 'integer') {
    const values: [string, string][] = [
      ['words', 'ten'],
      ['fraction', '1.5'],
      ['negative', '-1'],
      ['empty', ''],
      ['exponent past maximum', '1e9'],
      ['NUL', '5\u0000'],
      ['SQL', '5; drop table teams'],
    ];
    if (schema.minimum !== undefined) values.push(['below minimum', String(schema.minimum - 1)]);
    if (schema.maximum !== undefined) values.push(['above maximum', String(schema.maximum + 1)]);
    return values;
  }
  if (type === 'boolean')
    return [
      ['maybe', 'maybe'],
      ['number', '2'],
      ['SQL', "true' --"],
    ];
  const values = badStrings(schema, random).filter(([, value]) => value.length < 9000);
  if (name === 'cursor') {
    values.push(
      ['not base64url', '!!!!'],
      ['base64 of junk', Buffer.from('junk').toString('base64url')],
      ['cursor of NUL', encodeCursor('\u0000')],
      ['cursor of controls', encodeCursor('a\u0000\u0001b')],
      ['cursor of a fraction', encodeCursor(1.5)],
      ['cursor of a huge number', Buffer.from('[1e400]').toString('base64url')],
      ['cursor of an object', Buffer.from('[{"$gt":""}]').toString('base64url')],
      ['cursor of two keys', Buffer.from('["a","b"]').toString('base64url')],
      ['cursor of SQL', encodeCursor("' or 1=1 --")],
    );
  }
  return values;
}

const MALFORMED_BODIES: readonly [string, string][] = [
  ['truncated JSON', '{"name":'],
  ['trailing comma', '{"name":"x",}'],
  ['single quotes', "{'name':'x'}"],
  ['bare word', 'nul'],
  ['two documents', '{}{}'],
  ['NUL byte', '\u0000'],
  ['JSON array', '[]'],
  ['JSON null', 'null'],
  ['JSON string', '"payments"'],
  ['JSON number', '42'],
  ['JSON true', 'true'],
  ['array of the body', '[{"name":"x"}]'],
  ['__proto__ pollution', '{"__proto__":{"role":"admin"}}'],
  ['constructor pollution', '{"constructor":{"prototype":{"role":"admin"}}}'],
  ['deep nesting', `${'['.repeat(5000)}${']'.repeat(5000)}`],
  ['empty', ''],
  ['whitespace', '   '],
];

/** `value` with each lone surrogate replaced by U+FFFD, as a UTF-8 encoder would. */
function wellFormed(value: string): string {
  return value.replace(
    /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    '\ufffd',
  );
}

function withQuery(url: string, mutate: (params: URLSearchParams) => void): string {
  const [pathname, search = ''] = url.split('?');
  const params = new URLSearchParams(search);
  mutate(params);
  const text = params.toString();
  return text === '' ? String(pathname) : `${pathname}?${text}`;
}

/** Every bad request for one route, built around its valid `base` request. */
function casesFor(
  route: { method: string; url: string },
  operation: Operation,
  base: InjectOptions,
  bodyLimit = 64 * 1024,
): Case[] {
  const random = prng(seedOf(routeKey(route)));
  const cases: Case[] = [];
  assert.ok(typeof base.url === 'string', `${routeKey(route)}: the fixture must give a URL`);
  const baseUrl = base.url;
  const basePayload = (base.payload ?? undefined) as Record<string, unknown> | undefined;
  const bodySchema = operation.requestBody?.content['application/json'].schema;
  const body = (payload: unknown): InjectOptions => ({ ...base, payload: payload as object });
  const rawBody = (payload: string, contentType?: string): InjectOptions => ({
    method: base.method ?? 'GET',
    url: baseUrl,
    payload,
    headers: contentType === undefined ? {} : { 'content-type': contentType },
  });

  if (bodySchema !== undefined) {
    assert.ok(basePayload, `${routeKey(route)}: the fixture must send a body`);
    for (const [label, text] of MALFORMED_BODIES) {
      cases.push({ label: `body: ${label}`, request: rawBody(text, 'application/json') });
    }
    const valid = JSON.stringify(basePayload);
    cases.push(
      { label: 'body: unknown field', request: body({ ...basePayload, unexpected: true }) },
      { label: 'body: server-owned field id', request: body({ ...basePayload, id: 'x' }) },
      {
        label: 'body: server-owned field createdAt',
        request: body({ ...basePayload, createdAt: '2020-01-01T00:00:00Z' }),
      },
      { label: 'content-type text/plain', request: rawBody(valid, 'text/plain') },
      {
        label: 'content-type form',
        request: rawBody('name=x&team=y', 'application/x-www-form-urlencoded'),
      },
      {
        label: 'content-type multipart',
        request: rawBody('--b\r\n\r\nx\r\n--b--', 'multipart/form-data; boundary=b'),
      },
      { label: 'content-type xml', request: rawBody('<team name="x"/>', 'application/xml') },
      { label: 'content-type missing', request: rawBody(valid) },
      {
        label: `body over ${bodyLimit / 1024} KiB`,
        request: rawBody(
          JSON.stringify({ ...basePayload, description: 'x'.repeat(bodyLimit + 6_000) }),
          'application/json',
        ),
        status: 413,
        code: 'payload_too_large',
      },
    );
    for (const [field, schema] of Object.entries(bodySchema.properties ?? {})) {
      for (const [label, value] of badJsonValues(schema, random)) {
        cases.push({
          label: `body.${field}: ${label}`,
          request: body({ ...basePayload, [field]: value }),
        });
      }
    }
  }

  for (const parameter of operation.parameters ?? []) {
    if (parameter.in === 'query') {
      for (const [label, value] of badQueryValues(parameter.name, parameter.schema, random)) {
        cases.push({
          label: `query.${parameter.name}: ${label}`,
          request: { ...base, url: withQuery(baseUrl, (p) => p.set(parameter.name, value)) },
        });
      }
      cases.push({
        label: `query.${parameter.name}: repeated`,
        request: {
          ...base,
          url: withQuery(baseUrl, (p) => {
            p.append(parameter.name, 'a');
            p.append(parameter.name, 'b');
          }),
        },
      });
    }
    if (parameter.in === 'path') {
      const segments = route.url.split('/');
      const index = segments.indexOf(`:${parameter.name}`);
      assert.ok(index > 0, `${routeKey(route)}: no :${parameter.name} in the route`);
      const [pathname = '', search] = baseUrl.split('?');
      const actual = pathname.split('/');
      const withSegment = (raw: string): string => {
        const copy = [...actual];
        copy[index] = raw;
        return copy.join('/') + (search === undefined ? '' : `?${search}`);
      };
      const original = actual[index] ?? '';
      const raw: [string, string][] = [
        ['encoded traversal', '..%2F..'],
        ['encoded traversal to api-keys', '..%2F..%2Fapi-keys'],
        ['encoded dots', '%2e%2e'],
        ['encoded NUL', '%00'],
        ['NUL inside', `${original}%00`],
        ['bad percent-encoding', '%'],
        ['bad percent-encoding 2', '%zz'],
        ['truncated UTF-8', '%E0%A4%A'],
        ['overlong UTF-8 slash', '%C0%AF'],
        ['very long', 'a'.repeat(5000)],
        ['just past the router limit', 'a'.repeat(201)],
        ['long but routable', 'a'.repeat(150)],
        ['not a UUID', '12345'],
        ['UUID with a bad digit', '0190f2a4-0000-7000-8000-00000000000g'],
        ['with a suffix', `${original}x`],
        ['SQL', encodeURIComponent("' or '1'='1")],
        ['star', '*'],
        [
          'nonexistent',
          parameter.name === 'id' ? '0190f2a4-0000-7000-8000-000000000000' : 'no-such-thing',
        ],
      ];
      // Only where it changes the segment: a number has no case.
      if (original.toUpperCase() !== original) raw.push(['uppercase', original.toUpperCase()]);
      for (const [label, value] of IDENTIFIER_TRICKS) {
        // A lone surrogate cannot be percent-encoded; its UTF-8 replacement is sent instead.
        if (value !== '') raw.push([label, encodeURIComponent(wellFormed(value))]);
      }
      for (const [label, value] of raw) {
        cases.push({
          label: `path.${parameter.name}: ${label}`,
          request: { ...base, url: withSegment(value) },
        });
      }
    }
  }
  return cases;
}

for (const database of await testDatabases()) {
  const t: TestApp = await startTestApp(database);
  const openapi = (await t.app.inject({ url: '/openapi.json' })).json<{
    paths: Record<string, Record<string, Operation>>;
  }>();
  const routes = t.routeRoles.filter((route) => route.url.startsWith('/v1/'));

  describe(`bad input on ${database.name}`, () => {
    after(async () => t.close());

    for (const route of routes) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      const operation = openapi.paths[path]?.[route.method.toLowerCase()];
      it(`${routeKey(route)}: every bad request is a 4xx problem and changes nothing`, async () => {
        assert.ok(operation, `${routeKey(route)} is missing from /openapi.json`);
        const fixture = fixtureFor(route);
        const base = await fixture.build({ t, role: 'admin', team: OWNER_TEAM });
        const cases = casesFor(route, operation, base, fixture.bodyLimit);
        const hasInput =
          operation.requestBody !== undefined || (operation.parameters ?? []).length > 0;
        if (hasInput) assert.ok(cases.length >= 20, `only ${cases.length} cases`);
        // Row counts around every request; the full dump around the whole batch catches an
        // in-place update, since nothing here may change anything.
        const dumpBefore = await dumpDatabase(t);
        let before = await countRows(t);
        const codes = new Set<string>();
        for (const { label, request, status, code } of cases) {
          const response = await t.call('admin', request);
          const problem = assertProblem(response, `${routeKey(route)} ${label}`, {
            ...(status === undefined ? {} : { status }),
            ...(code === undefined ? {} : { code }),
          });
          codes.add(problem.code);
          const now = await countRows(t);
          assert.equal(now, before, `${routeKey(route)} ${label} changed the database`);
          before = now;
        }
        assert.equal(await dumpDatabase(t), dumpBefore, `${routeKey(route)} changed the database`);
        for (const code of codes) {
          assert.ok(
            [
              'bad_request',
              'validation_failed',
              'unsupported_media_type',
              'payload_too_large',
              'not_found',
              'route_not_found',
              'invalid_cursor',
              // Policy text and decision requests refused by Cedar itself, with positions.
              'policy_invalid',
              'policy_set_too_large',
              'policy_request_invalid',
              'principal_invalid',
            ].includes(code),
            `${routeKey(route)}: unexpected code ${code}`,
          );
        }
        // The base request is valid: every case above failed for its own fault.
        const ok = await t.call('admin', base);
        assert.ok(ok.statusCode < 300, `${routeKey(route)} base: ${ok.statusCode} ${ok.body}`);
      });
    }

    it('treats SQL metacharacters in free text as text', async () => {
      const text = '\'; drop table teams; -- 100% _done_ \\ "quoted"';
      const created = await t.call('admin', {
        method: 'POST',
        url: '/v1/teams',
        payload: { name: 'sql-text', contact: text, escalation: '%', description: '_' },
      });
      assert.equal(created.statusCode, 201, created.body);
      const read = (await t.call('auditor', { url: '/v1/teams/sql-text' })).json<{
        contact: string;
        escalation: string;
        description: string;
      }>();
      assert.deepEqual([read.contact, read.escalation, read.description], [text, '%', '_']);
      assert.equal((await t.call('auditor', { url: `/v1/teams/${OWNER_TEAM}` })).statusCode, 200);
    });

    it('filters by name exactly, never as a pattern', async () => {
      // "owners_team" would match "owners-team" if it reached a LIKE.
      const services = await t.call('auditor', { url: '/v1/services?team=owners_team' });
      assert.equal(services.statusCode, 200);
      assert.deepEqual(services.json<{ items: unknown[] }>().items, []);
      const audit = await t.call('auditor', { url: '/v1/audit?type=team_created' });
      assert.deepEqual(audit.json<{ items: unknown[] }>().items, []);
    });
  });
}
