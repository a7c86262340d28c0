/**
 * The HTTP gateway's target check on its own: what is refused and why, what is accepted and in
 * which one spelling, and that the work stays linear in the target's length. The same cases run
 * end to end through a real gateway in gateway.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { upstreamRequestHeaders } from '../../../src/gateway/http/headers.js';
import { parseGatewayTarget } from '../../../src/gateway/index.js';
import { assertLinear } from '../linear.js';

const BASE = '/gw/http/billing';

test('ambiguous paths are refused with a reason', () => {
  for (const [path, reason] of [
    ['/a/..;/admin', /path parameters/],
    ['/a/.;/admin', /path parameters/],
    ['/a;jsessionid=1/b', /path parameters/],
    ['/a/%3b/b', /path parameters/],
    ['/a/%EF%BC%8E%EF%BC%8E/admin', /Unicode/],
    ['/a%EF%BC%8Fadmin', /Unicode/],
    ['/a%EF%BC%BCadmin', /Unicode/],
    ['/a/%E2%80%A4%E2%80%A4/admin', /Unicode/],
    ['/a/%EF%B9%92/admin', /Unicode/],
    ['/a/%E3%80%82%E3%80%82/admin', /Unicode/],
    ['/a%E2%88%95admin', /Unicode/],
    ['/a%E2%81%84admin', /Unicode/],
    ['/a%E2%88%96admin', /Unicode/],
    ['/a%CC%B8admin', /Unicode/],
    ['/%EF%BD%81dmin', /Unicode/],
    ['/%EF%AC%81le', /Unicode/],
    ['/a/%C0%AE%C0%AE/admin', /not UTF-8/],
    ['/a/%E0%80%AE', /not UTF-8/],
    ['/a/%ED%A0%80', /not UTF-8/],
    ['/a/%C3', /not UTF-8/],
    ['/a/...', /dot segments/],
    ['/a/..%20/b', /dot segments/],
    ['/a/%20/b', /dot segments/],
  ] as const) {
    const result = parseGatewayTarget(`${BASE}${path}`);
    assert.equal(result.ok, false, path);
    assert.match(result.ok ? '' : result.reason, reason, path);
  }
});

test('ambiguous queries are refused with a reason', () => {
  for (const [query, reason] of [
    ['a=1&a=2', /more than once/],
    ['a=1&A=2', /more than once/],
    ['a=1&%41=2', /more than once/],
    ['a+b=1&a%20b=2', /more than once/],
    ['a=1;b=2', /;/],
    ['_method=DELETE', /method-override/],
    ['X-HTTP-Method-Override=PUT', /method-override/],
    ['%EF%BD%81=1', /Unicode/],
    ['a=%C0%AE', /not UTF-8/],
    ['%FF=1', /not UTF-8/],
  ] as const) {
    const result = parseGatewayTarget(`${BASE}/x?${query}`);
    assert.equal(result.ok, false, query);
    assert.match(result.ok ? '' : result.reason, reason, query);
  }
});

test('what is accepted has one spelling, and every parameter once', () => {
  const result = parseGatewayTarget(
    `${BASE}/caf%c3%a9/%7Euser/r%C3%A9sum%C3%A9?q=a+b%20c&name=Jos%C3%A9&empty&__proto__=x&constructor=y`,
  );
  assert.ok(result.ok);
  assert.equal(result.target.path, '/caf%C3%A9/~user/r%C3%A9sum%C3%A9');
  assert.equal(result.target.query, 'q=a+b%20c&name=Jos%C3%A9&empty&__proto__=x&constructor=y');
  assert.deepEqual(
    { ...result.target.parameters },
    // Parsed, so that `__proto__` is a key, not the prototype.
    JSON.parse('{"q":"a b c","name":"José","empty":"","__proto__":"x","constructor":"y"}'),
  );
  assert.equal(Object.getPrototypeOf(result.target.parameters), null);
  // Characters whose NFKC form is themselves pass: CJK, accented letters in NFC, emoji.
  for (const path of ['/%E6%97%A5%E6%9C%AC', '/%C3%A9', '/%F0%9F%98%80', '/a.b/c..d/.e']) {
    assert.ok(parseGatewayTarget(`${BASE}${path}`).ok, path);
  }
});

test('the target check is linear in the length of what it is given', () => {
  const shapes: Record<string, (size: number) => string> = {
    escapes: (size) => `${BASE}${'/%C3%A9%41'.repeat(size / 10)}`,
    segments: (size) => `${BASE}${'/a'.repeat(size / 2)}`,
    dots: (size) => `${BASE}/${'.'.repeat(size)}x`,
    parameters: (size) =>
      `${BASE}/x?${Array.from({ length: size / 16 }, (_, i) => `p${i}=v%C3%A9+${i}`).join('&')}`,
  };
  for (const [name, make] of Object.entries(shapes)) {
    assertLinear(name, make, (target) => parseGatewayTarget(target), { small: 4_096 });
  }
});

test('building the forwarded headers is linear in the listed names and the headers', () => {
  const options = {
    inject: { 'x-api-key': 'k' },
    clientAddress: '127.0.0.1',
    protocol: 'http',
    host: 'steward.test',
    requestId: 'r',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    contentLength: undefined,
  };
  const names = (count: number) => Array.from({ length: count }, (_, i) => `x-h${i}`);
  // A `Connection` header listing many names (its value is what grows with the request).
  assertLinear(
    'connection',
    (size) => ({ connection: names(size / 8).join(', '), 'x-h1': 'v', accept: '*/*' }),
    (incoming) => upstreamRequestHeaders(incoming, options),
    { small: 4_096 },
  );
  // Many headers, up to Node's own limit of 2000 per request.
  assertLinear(
    'headers',
    (count) => Object.fromEntries(names(count).map((name) => [name, 'v'])),
    (incoming) => upstreamRequestHeaders(incoming, options),
    { small: 120 },
  );
});
