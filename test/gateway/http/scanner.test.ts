/** The credential scanner: each format is found and redacted, look-alikes are not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSecret } from '../../../src/shared/key-format.js';
import { scanText, scanValue } from '../../../src/gateway/index.js';
import { assertLinear } from '../linear.js';

const SAMPLES: Record<string, string> = {
  steward_api_key: generateSecret('key'),
  steward_join_token: generateSecret('join'),
  jwt: 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4eXoiLCJleHAiOjF9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln',
  aws_access_key: 'AKIAIOSFODNN7EXAMPLE',
  github_token: `ghp_${'a'.repeat(36)}`,
  slack_token: 'xoxb-123456789012-abcdefghijkl',
  anthropic_key: `sk-ant-api03-${'b'.repeat(40)}`,
  openai_key: `sk-proj-${'c'.repeat(40)}`,
  google_api_key: `AIza${'d'.repeat(35)}`,
  stripe_key: `sk_live_${'e'.repeat(24)}`,
  private_key: '-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----',
};

test('every supported format is found and redacted', () => {
  for (const [kind, secret] of Object.entries(SAMPLES)) {
    const { redacted, matches } = scanText(`before ${secret} after`);
    assert.equal(matches.length, 1, kind);
    assert.equal(matches[0]?.kind, kind);
    assert.equal(redacted, `before [REDACTED:${kind}] after`);
  }
});

test('a Steward look-alike with a bad checksum is not a finding', () => {
  const key = generateSecret('key');
  const broken = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
  assert.equal(scanText(broken).matches.length, 0);
});

test('nested values are scanned, keys too, and the input is left alone', () => {
  const input = { a: [{ b: SAMPLES['aws_access_key'] }], [SAMPLES['github_token'] ?? '']: 1 };
  const { redacted, matches } = scanValue(input);
  assert.equal(matches.length, 2);
  assert.deepEqual(
    matches.map((m) => m.where).sort(),
    ['/[REDACTED:github_token]', '/a/0/b'].sort(),
  );
  assert.ok(!JSON.stringify(redacted).includes('AKIA'));
  assert.equal(input.a[0]?.b, SAMPLES['aws_access_key']);
});

test('Steward credentials glued to what precedes or follows them are still found', () => {
  const key = generateSecret('key');
  const join = generateSecret('join');
  const jwt = SAMPLES['jwt'] ?? '';
  for (const [text, kind] of [
    [`x${key}`, 'steward_api_key'],
    [`Bearer${key}`, 'steward_api_key'],
    [`token=abc${key}def`, 'steward_api_key'],
    [`_${join}`, 'steward_join_token'],
    [`Bearer${jwt}`, 'jwt'],
    [`q=use%20${jwt}%20please`, 'jwt'],
  ] as const) {
    const { redacted, matches } = scanText(text);
    assert.deepEqual(
      matches.map((m) => m.kind),
      [kind],
      text,
    );
    assert.ok(!redacted.includes(kind === 'jwt' ? jwt : kind === 'steward_api_key' ? key : join));
  }
});

test('scanning is linear on adversarial input (no regex retried from every start)', () => {
  const shapes: Record<string, string> = {
    // A JWT's first part, again and again, never followed by the rest.
    jwt: '-eyJaaaaaaaaaaaa',
    // PEM headers that are never closed.
    pem: '-----BEGIN PRIVATE KEY-----\n',
    steward: 'stw_key_stw_join_',
    vendors: 'sk-ant-xoxb-ghp_AKIA AIza sk_live_ ',
  };
  for (const [name, unit] of Object.entries(shapes)) {
    assertLinear(
      name,
      (size) => unit.repeat(Math.ceil(size / unit.length)),
      (text) => scanText(text),
      { small: 8_192 },
    );
  }
});
