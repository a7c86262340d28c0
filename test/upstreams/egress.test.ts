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
  ['http://[64:ff9b::169.254.169.254]/', /reaches 169\.254\.169\.254 \(NAT64\)/],
  ['http://[64:ff9b::7f00:1]/', /reaches 127\.0\.0\.1 \(NAT64\).*loopback/],
  ['http://[::ffff:0:a9fe:a9fe]/', /reaches 169\.254\.169\.254 \(IPv4-translated\)/],
  ['http://[::ffff:0:10.0.0.1]/', /reaches 10\.0\.0\.1 \(IPv4-translated\).*private/],
  ['http://[::a9fe:a9fe]/', /reaches 169\.254\.169\.254 \(IPv4-compatible\)/],
  ['http://[::169.254.169.254]/', /reaches 169\.254\.169\.254 \(IPv4-compatible\)/],
  ['http://[64:ff9b:1::a9fe:a9fe]/', /local-use NAT64/],
  ['http://[64:ff9b:1:a9fe:a9:fe00::]/', /local-use NAT64/],
  ['http://[64:ff9b:1::808:808]/', /local-use NAT64/],
  ['http://[2002:a9fe:a9fe::1]/', /reaches 169\.254\.169\.254 \(6to4\)/],
  ['http://[2002:7f00:1::]/', /reaches 127\.0\.0\.1 \(6to4\).*loopback/],
  ['http://[2001:0:a9fe:a9fe::1]/', /reaches 169\.254\.169\.254 \(Teredo\)/],
  // Teredo's client address is written bit-inverted: 5601:5601 is 169.254.169.254.
  ['http://[2001:0:808:808::5601:5601]/', /reaches 169\.254\.169\.254 \(Teredo\)/],
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

  it('judges a resolved IPv6 address by the IPv4 address it carries, in every spelling', async () => {
    const spellings = [
      '64:ff9b::a9fe:a9fe',
      '64:FF9B::A9FE:A9FE',
      '0064:ff9b:0000:0000:0000:0000:a9fe:a9fe',
      '64:ff9b::169.254.169.254',
      '64:ff9b::a9fe:a9fe%eth0',
      '::ffff:169.254.169.254',
      '::FFFF:A9FE:A9FE',
      '0:0:0:0:0:ffff:a9fe:a9fe',
      '::ffff:0:169.254.169.254',
      '::ffff:0:a9fe:a9fe',
      '2002:a9fe:a9fe:1::1',
      '::a9fe:a9fe',
    ];
    for (const answer of spellings) {
      const check = await checkEgress('http://tool.example.com/', [], {
        resolve: resolver({ 'tool.example.com': [answer] }),
      });
      assert.equal(check.ok, false, answer);
      if (!check.ok) assert.match(check.reason, /reaches 169\.254\.169\.254 .*link-local/, answer);
    }
  });

  it('lets an IPv6 address that carries a public IPv4 address through, and connects to it as written', async () => {
    const cases: [string, string][] = [
      ['http://[64:ff9b::808:808]/', '64:ff9b::808:808'],
      ['http://[64:ff9b::8.8.8.8]/', '64:ff9b::808:808'],
      ['http://[2002:808:808::1]/', '2002:808:808::1'],
      ['http://[2001:0:808:808::f7f7:f7f7]/', '2001:0:808:808::f7f7:f7f7'],
      // An IPv4-mapped address is the same socket as its IPv4 address.
      ['http://[::ffff:8.8.8.8]/', '8.8.8.8'],
    ];
    for (const [url, address] of cases) {
      assert.deepEqual(await checkEgress(url, []), { ok: true, addresses: [address] }, url);
    }
  });

  it('applies an allowlist entry to the IPv4 address an IPv6 one carries', async () => {
    const allow = [normalizeAllowEntry('10.20.0.0/16')];
    assert.equal((await checkEgress('http://[64:ff9b::a14:1e28]/', allow)).ok, true);
    assert.equal((await checkEgress('http://[2002:a14:1e28::1]/', allow)).ok, true);
    assert.equal((await checkEgress('http://[64:ff9b::a15:1]/', allow)).ok, false);
    assert.equal((await checkEgress('http://[64:ff9b:1::a14:1e28]/', allow)).ok, false);
    const localNat64 = [normalizeAllowEntry('64:ff9b:1:abcd::/96')];
    assert.equal((await checkEgress('http://[64:ff9b:1:abcd::808:808]/', localNat64)).ok, true);
    assert.equal((await checkEgress('http://[64:ff9b:1:abce::808:808]/', localNat64)).ok, false);
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

  it('judges an address anew when the allowlist changes, and never by a verdict of another list', async () => {
    // The guard remembers its verdict per address and allowlist: repeated calls, a withdrawn
    // allowance, a list given back, and a name that resolves to the same address must all see
    // the verdict of the list in force.
    const allowed = [normalizeAllowEntry('10.9.8.7')];
    const withdrawn: string[] = [];
    for (let round = 0; round < 3; round++) {
      assert.equal((await checkEgress('http://10.9.8.7/', allowed)).ok, true, `round ${round}`);
      assert.equal((await checkEgress('http://10.9.8.7/', withdrawn)).ok, false, `round ${round}`);
    }
    const resolve = resolver({ 'a.example.com': ['10.9.8.7'], 'b.example.com': ['10.9.8.7'] });
    for (const host of ['a.example.com', 'b.example.com']) {
      const check = await checkEgress(`http://${host}/`, withdrawn, { resolve });
      assert.equal(check.ok, false, host);
      if (!check.ok) assert.match(check.reason, new RegExp(`^${host} reaches 10\\.9\\.8\\.7`));
      assert.deepEqual(await checkEgress(`http://${host}/`, allowed, { resolve }), {
        ok: true,
        addresses: ['10.9.8.7'],
      });
    }
  });

  it('still refuses internal addresses after more distinct addresses than it remembers', async () => {
    const list: string[] = [];
    for (let i = 0; i < 1_500; i++) {
      const address = `203.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;
      assert.equal((await checkEgress(`http://${address}/`, list)).ok, true, address);
      if (i % 100 === 0) assert.equal((await checkEgress('http://10.0.0.1/', list)).ok, false);
    }
    assert.equal((await checkEgress('http://169.254.169.254/', list)).ok, false);
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
    assert.equal(canonicalAddress('64:FF9B::8.8.8.8'), '64:ff9b::808:808');
  });
});
