/**
 * The scrubber of the injected secret on its own: every form it looks for, a value split across
 * chunks at every position, the length kept, memory bounded, and linear time. Through real
 * gateways: test/gateway/http/secret-echo.test.ts and test/gateway/mcp/secret-echo.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createScrubber } from '../../src/gateway/scrub.js';
import { assertLinear } from './linear.js';

const SECRET = 'sk_test_51HxQ2eKz/9+Secret=Value"\\0123';

function streamed(scrubber: ReturnType<typeof createScrubber>, chunks: readonly Buffer[]) {
  const body = scrubber.body();
  const out = Buffer.concat([...chunks.map((chunk) => body.push(chunk)), body.end()]);
  return { out, found: body.found() };
}

test('each form of the secret is scrubbed: as written, encoded, escaped, in base64 at any offset', () => {
  const scrubber = createScrubber([SECRET, `Bearer ${SECRET}`]);
  const forms = [
    SECRET,
    `Bearer ${SECRET}`,
    encodeURIComponent(SECRET),
    encodeURIComponent(SECRET).replaceAll('%20', '+'),
    JSON.stringify(SECRET),
    JSON.stringify(SECRET).replaceAll('/', '\\/'),
    Buffer.from(SECRET).toString('base64'),
    Buffer.from(SECRET).toString('base64url'),
    // Inside longer base64 texts, at the three alignments (Basic: `user:secret`).
    Buffer.from(`u:${SECRET}`).toString('base64'),
    Buffer.from(`us:${SECRET}`).toString('base64'),
    Buffer.from(`usr:${SECRET}:more`).toString('base64'),
    Buffer.from(`{"key":"${SECRET}"}`).toString('base64url'),
  ];
  for (const form of forms) {
    const text = `before ${form} after`;
    const result = scrubber.text(text);
    assert.ok(result.found, form);
    assert.equal(result.text.length, text.length, 'same length, so Content-Length stays true');
    assert.ok(!result.text.includes(SECRET), form);
    assert.match(result.text, /\[REDACTED/);
  }
  assert.deepEqual(scrubber.text('nothing to see'), { text: 'nothing to see', found: false });
});

test('a secret with non-ASCII and markup characters: as Python JSON and an HTML page quote it', () => {
  const secret = 'clé-secrète&<value>"0123';
  const scrubber = createScrubber([secret]);
  for (const form of [
    secret,
    JSON.stringify({ k: secret }),
    // Python's json.dumps, ensure_ascii by default.
    '{"k": "cl\\u00e9-secr\\u00e8te&<value>\\"0123"}',
    '<td>clé-secrète&amp;&lt;value&gt;&quot;0123</td>',
  ]) {
    const result = scrubber.text(form);
    assert.ok(result.found, form);
    assert.match(result.text, /REDACTED|\*{6}/, form);
  }
});

test('a Basic credential is scrubbed decoded too: user:password, and the password alone', () => {
  const basic = Buffer.from('svc-billing:pw-0123456789abcdef').toString('base64');
  const scrubber = createScrubber([basic, `Basic ${basic}`]);
  for (const text of [
    `{"auth":"Basic ${basic}"}`,
    '{"credentials":"svc-billing:pw-0123456789abcdef"}',
    '{"user":"svc-billing","password":"pw-0123456789abcdef"}',
  ]) {
    const result = scrubber.text(text);
    assert.ok(result.found, text);
    assert.ok(!result.text.includes('pw-0123456789abcdef'), result.text);
  }
});

test('a secret split across chunks at any position is scrubbed, and nothing else changes', () => {
  const scrubber = createScrubber([SECRET]);
  const body = Buffer.from(`{"echo":"${SECRET}","tail":"${'x'.repeat(50)}"}`);
  const whole = scrubber.text(body.toString()).text;
  for (let cut = 1; cut < body.length; cut++) {
    const { out, found } = streamed(scrubber, [body.subarray(0, cut), body.subarray(cut)]);
    assert.ok(found, `cut at ${cut}`);
    assert.equal(out.toString(), whole, `cut at ${cut}`);
  }
  // One byte at a time.
  const bytes = [...body].map((byte) => Buffer.from([byte]));
  assert.equal(streamed(scrubber, bytes).out.toString(), whole);
  // A near miss held back across chunks comes out unchanged.
  const near = Buffer.from(`${SECRET.slice(0, -1)}!`);
  const { out, found } = streamed(scrubber, [near.subarray(0, 10), near.subarray(10)]);
  assert.equal(found, false);
  assert.deepEqual(out, near);
});

test('a streamed body holds back no more than the longest form', () => {
  const scrubber = createScrubber([SECRET]);
  const body = scrubber.body();
  const chunk = Buffer.alloc(64 * 1024, 'a');
  for (let i = 0; i < 16; i++) assert.equal(body.push(chunk).length, chunk.length);
  // A chunk that ends with the secret's first bytes: those (and only those) wait.
  const start = Buffer.from(`abc${SECRET.slice(0, 10)}`);
  assert.equal(body.push(start).length, 3);
  assert.equal(body.end().toString(), SECRET.slice(0, 10));
});

test('JSON values are scrubbed in strings and keys, the input left alone', () => {
  const scrubber = createScrubber([SECRET]);
  const input = {
    content: [{ type: 'text', text: `your key is ${SECRET}` }],
    meta: { [SECRET]: true, untouched: { a: 1 } },
    list: [1, 'two', null],
  };
  const { value, found } = scrubber.value(input);
  assert.ok(found);
  assert.ok(!JSON.stringify(value).includes(SECRET));
  assert.equal(input.content[0]?.text, `your key is ${SECRET}`);
  assert.equal(value.meta.untouched, input.meta.untouched, 'what holds no secret is not copied');
  assert.equal(value.list, input.list);
  const clean = { a: ['b'] };
  assert.equal(scrubber.value(clean).value, clean);
  // A key named __proto__ stays a key.
  const proto = JSON.parse(`{"__proto__":${JSON.stringify(SECRET)}}`) as Record<string, unknown>;
  const scrubbed = scrubber.value(proto).value;
  assert.equal(Object.getPrototypeOf(scrubbed), Object.prototype);
  assert.match(String(Object.getOwnPropertyDescriptor(scrubbed, '__proto__')?.value), /REDACTED/);
});

test('headers: values scrubbed, a header named with the secret dropped', () => {
  const scrubber = createScrubber([SECRET]);
  const { headers, found } = scrubber.headers({
    'x-echo-key': SECRET,
    'set-cookie': ['a=1', `k=${encodeURIComponent(SECRET)}`],
    [`x-${SECRET}`]: '1',
    'content-type': 'application/json',
  });
  assert.ok(found);
  assert.ok(!JSON.stringify(headers).includes(SECRET));
  assert.ok(!JSON.stringify(headers).includes(encodeURIComponent(SECRET)));
  assert.equal(headers['content-type'], 'application/json');
  assert.equal(Object.keys(headers).length, 3);
});

test('nothing injected, or too short to be a credential: nothing is scrubbed', () => {
  for (const values of [[], ['abc']]) {
    const scrubber = createScrubber(values);
    assert.equal(scrubber.active, false);
    assert.equal(scrubber.text('abc abc').found, false);
  }
});

test('scrubbing is linear on adversarial input', () => {
  const scrubber = createScrubber([SECRET, `Bearer ${SECRET}`]);
  const near = SECRET.slice(0, -1);
  const shapes: Record<string, string> = {
    // Prefixes of the secret again and again, each failing on its last byte.
    prefixes: near,
    // Prefixes that overlap themselves.
    overlapping: SECRET.slice(0, 3).repeat(5),
    // The secret itself, every match replaced.
    matches: SECRET,
  };
  for (const [name, unit] of Object.entries(shapes)) {
    assertLinear(
      name,
      (size) => Buffer.from(unit.repeat(Math.ceil(size / unit.length))),
      (body) => {
        const stream = scrubber.body();
        for (let at = 0; at < body.length; at += 16_384) {
          stream.push(body.subarray(at, at + 16_384));
        }
        stream.end();
      },
      { small: 32_768 },
    );
  }
});
