/**
 * The egress guard (SSRF): internal addresses in every spelling are refused unless allowed; names
 * are judged by every address they resolve to.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalAddress,
  checkEgress,
  normalizeAllowEntry,
  type HostResolver,
} from '../../src/upstreams/index.js';

/** A resolver with fixed answers: no test depends on the machine's DNS. */
const resolver =
  (answers: Readonly<Record<string, readonly string[]>>): HostResolver =>
  async (host) => {
    const found = answers[host];
    if (!found) throw new Error('ENOTFOUND');
    return found;
  };

const REFUSED: readonly [string, RegExp][] = [
  ['http://169.254.169.254/latest/meta-data/', /link-local/],
  ['http://127.0.0.1:8080/', /loopback/],
  ['http://[::1]/', /loopback/],
  ['http://[::ffff:127.0.0.1]/', /reaches 127\.0\.0\.1.*loopback/],
  ['http://[::ffff:a9fe:a9fe]/', /reaches 169\.254\.169\.254/],
  ['http://[64:ff9b::a9fe:a9fe]/', /reaches 169\.254\.169\.254/],
  ['http://0x7f000001/', /127\.0\.0\.1.*loopback/],
  ['http://2130706433/', /127\.0\.0\.1.*loopback/],
  ['http://0177.0.0.1/', /127\.0\.0\.1.*loopback/],
  ['http://127.1/', /loopback/],
  ['http://10.0.0.1/', /private/],
  ['http://172.16.5.4/', /private/],
  ['http://192.168.1.1/', /private/],
  ['http://100.64.0.1/', /CGNAT/],
  ['http://0.0.0.0/', /unspecified/],
  ['http://[::]/', /unspecified/],
  ['http://224.0.0.1/', /multicast/],
  ['http://[ff02::1]/', /multicast/],
  ['http://[fe80::1]/', /link-local/],
  ['http://[fd12:3456::1]/', /unique local/],
  ['http://255.255.255.255/', /reserved/],
];

describe('egress guard', () => {
  for (const [url, reason] of REFUSED) {
    it(`refuses ${url}`, async () => {
      const check = await checkEgress(url, [], { resolve: resolver({}) });
      assert.equal(check.ok, false);
      if (!check.ok) assert.match(check.reason, reason);
    });
  }

  it('refuses metadata host names that resolve to link-local addresses', async () => {
    const resolve = resolver({
      'metadata.google.internal': ['169.254.169.254'],
      'metadata.azure.internal': ['fe80::a9fe:a9fe'],
    });
    for (const host of ['metadata.google.internal', 'metadata.azure.internal']) {
      const check = await checkEgress(`http://${host}/computeMetadata/v1/`, [], { resolve });
      assert.equal(check.ok, false, host);
      if (!check.ok) assert.match(check.reason, /link-local/);
    }
  });

  it('refuses a name if any of its addresses is internal (one bad answer is enough)', async () => {
    const resolve = resolver({ 'mixed.example.com': ['203.0.113.7', '10.1.2.3'] });
    const check = await checkEgress('https://mixed.example.com/', [], { resolve });
    assert.equal(check.ok, false);
  });

  it('refuses names that do not resolve, and schemes other than http and https', async () => {
    assert.equal(
      (await checkEgress('http://nowhere.invalid/', [], { resolve: resolver({}) })).ok,
      false,
    );
    assert.equal((await checkEgress('file:///etc/passwd', [])).ok, false);
    assert.equal((await checkEgress('gopher://203.0.113.1/', [])).ok, false);
    assert.equal((await checkEgress('not a url', [])).ok, false);
  });

  it('lets public addresses through and returns every address to connect to', async () => {
    assert.deepEqual(await checkEgress('https://203.0.113.10/mcp', []), {
      ok: true,
      addresses: ['203.0.113.10'],
    });
    const resolve = resolver({ 'api.example.com': ['93.184.216.34', '2606:2800:220:1::1'] });
    assert.deepEqual(await checkEgress('https://api.example.com/', [], { resolve }), {
      ok: true,
      addresses: ['93.184.216.34', '2606:2800:220:1::1'],
    });
  });

  it('lets an allowed address or network through, in every spelling, and nothing beside it', async () => {
    const allow = [normalizeAllowEntry('127.0.0.1'), normalizeAllowEntry('10.20.0.0/16')];
    for (const url of [
      'http://127.0.0.1:9000/',
      'http://[::ffff:127.0.0.1]/',
      'http://2130706433/',
      'http://10.20.30.40/',
    ]) {
      assert.equal((await checkEgress(url, allow)).ok, true, url);
    }
    for (const url of ['http://127.0.0.2/', 'http://10.21.0.1/', 'http://[::1]/']) {
      assert.equal((await checkEgress(url, allow)).ok, false, url);
    }
  });

  it('writes allowlist entries and addresses canonically', () => {
    assert.equal(normalizeAllowEntry('127.0.0.1'), '127.0.0.1/32');
    assert.equal(normalizeAllowEntry('10.1.2.3/16'), '10.1.0.0/16');
    assert.equal(normalizeAllowEntry('FD00:0::1/8'), 'fd00::/8');
    assert.equal(normalizeAllowEntry('::1'), '::1/128');
    assert.throws(() => normalizeAllowEntry('example.com'));
    assert.throws(() => normalizeAllowEntry('10.0.0.0/33'));
    assert.throws(() => normalizeAllowEntry('10.0.0.0/8/8'));
    assert.equal(canonicalAddress('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(canonicalAddress('[0:0:0:0:0:0:0:1]'), '::1');
  });
});
