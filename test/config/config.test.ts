/**
 * Configuration from the environment: safe defaults, every bad value stopped with the variable's
 * name, secrets from `<NAME>_FILE`, and no PostgreSQL without an explicit master key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, DEFAULT_RATE_LIMITS, loadConfig } from '../../src/config/index.js';

const MASTER_HEX = '0123456789abcdef'.repeat(4);
const PG = 'postgres://steward@db.example:5432/steward';

function refuses(env: Record<string, string>, variable: string): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(env)}`);
  assert.equal(caught.variable, variable);
  assert.ok(caught.message.startsWith(`${variable}: `), caught.message);
  return caught;
}

describe('loadConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'steward-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const target = path.join(dir, name);
    writeFileSync(target, content);
    return target;
  };

  it('has safe defaults and is frozen', () => {
    const config = loadConfig({});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, path.resolve('.steward'));
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.masterKey, undefined);
    assert.equal(config.adminKey, undefined);
    assert.equal(config.trustDomain, 'steward.local');
    assert.equal(config.issuer, 'http://127.0.0.1:8080');
    assert.equal(config.logLevel, 'info');
    assert.ok(Object.isFrozen(config));
  });

  it('reads every variable', () => {
    const config = loadConfig({
      STEWARD_HOST: '::1',
      STEWARD_PORT: '0',
      STEWARD_DATA_DIR: dir,
      DATABASE_URL: PG,
      STEWARD_MASTER_KEY: MASTER_HEX,
      STEWARD_ADMIN_KEY: 'k'.repeat(40),
      STEWARD_TRUST_DOMAIN: 'prod.example.com',
      STEWARD_LOG_LEVEL: 'warn',
    });
    assert.equal(config.host, '::1');
    assert.equal(config.port, 0);
    assert.equal(config.dataDir, dir);
    assert.equal(config.databaseUrl, PG);
    assert.equal(config.masterKey?.toString('hex'), MASTER_HEX);
    assert.equal(config.adminKey, 'k'.repeat(40));
    assert.equal(config.trustDomain, 'prod.example.com');
    assert.equal(config.issuer, 'http://[::1]:0');
    assert.equal(config.logLevel, 'warn');
    assert.equal(
      loadConfig({ STEWARD_ISSUER: 'https://steward.example.com//' }).issuer,
      'https://steward.example.com',
    );
    const base64 = Buffer.from(MASTER_HEX, 'hex').toString('base64');
    assert.equal(loadConfig({ STEWARD_MASTER_KEY: base64 }).masterKey?.toString('hex'), MASTER_HEX);
  });

  it('names the variable of each bad value', () => {
    const cases: [Record<string, string>, string][] = [
      [{ STEWARD_PORT: 'http' }, 'STEWARD_PORT'],
      [{ STEWARD_PORT: '65536' }, 'STEWARD_PORT'],
      [{ STEWARD_PORT: '-1' }, 'STEWARD_PORT'],
      [{ STEWARD_PORT: '80 80' }, 'STEWARD_PORT'],
      [{ DATABASE_URL: 'mysql://db/steward', STEWARD_MASTER_KEY: MASTER_HEX }, 'DATABASE_URL'],
      [{ DATABASE_URL: '/var/lib/steward.db', STEWARD_MASTER_KEY: MASTER_HEX }, 'DATABASE_URL'],
      [{ STEWARD_MASTER_KEY: 'too-short' }, 'STEWARD_MASTER_KEY'],
      [{ STEWARD_MASTER_KEY: 'ab'.repeat(31) }, 'STEWARD_MASTER_KEY'],
      [{ STEWARD_ADMIN_KEY: 'short' }, 'STEWARD_ADMIN_KEY'],
      [{ STEWARD_TRUST_DOMAIN: 'Prod Example' }, 'STEWARD_TRUST_DOMAIN'],
      [{ STEWARD_TRUST_DOMAIN: 'a/b' }, 'STEWARD_TRUST_DOMAIN'],
      [{ STEWARD_ISSUER: 'ftp://steward.example.com' }, 'STEWARD_ISSUER'],
      [{ STEWARD_ISSUER: 'not a url' }, 'STEWARD_ISSUER'],
      [{ STEWARD_LOG_LEVEL: 'loud' }, 'STEWARD_LOG_LEVEL'],
    ];
    for (const [env, variable] of cases) refuses(env, variable);
  });

  it('never repeats a secret in its error', () => {
    const secretValue = 'my-short-secret';
    const error = refuses({ STEWARD_ADMIN_KEY: secretValue }, 'STEWARD_ADMIN_KEY');
    assert.ok(!error.message.includes(secretValue));
    const master = refuses({ STEWARD_MASTER_KEY: 'zz-secret-zz' }, 'STEWARD_MASTER_KEY');
    assert.ok(!master.message.includes('zz-secret-zz'));
  });

  it('refuses PostgreSQL without an explicit master key', () => {
    const error = refuses({ DATABASE_URL: PG }, 'STEWARD_MASTER_KEY');
    assert.match(error.message, /DATABASE_URL/);
    assert.equal(loadConfig({ DATABASE_URL: PG, STEWARD_MASTER_KEY: MASTER_HEX }).databaseUrl, PG);
  });

  it('reads secrets from <NAME>_FILE, trimming one trailing newline', () => {
    const config = loadConfig({
      DATABASE_URL_FILE: file('db', `${PG}\n`),
      STEWARD_MASTER_KEY_FILE: file('master', `${MASTER_HEX}\n`),
      STEWARD_ADMIN_KEY_FILE: file('admin', `${'a'.repeat(32)}\r\n`),
    });
    assert.equal(config.databaseUrl, PG);
    assert.equal(config.masterKey?.toString('hex'), MASTER_HEX);
    assert.equal(config.adminKey, 'a'.repeat(32));
  });

  it('refuses a _FILE that cannot be read, or both forms at once', () => {
    refuses({ STEWARD_MASTER_KEY_FILE: path.join(dir, 'missing') }, 'STEWARD_MASTER_KEY_FILE');
    refuses({ STEWARD_ADMIN_KEY_FILE: dir }, 'STEWARD_ADMIN_KEY_FILE');
    refuses(
      { STEWARD_ADMIN_KEY: 'a'.repeat(32), STEWARD_ADMIN_KEY_FILE: file('both', 'b'.repeat(32)) },
      'STEWARD_ADMIN_KEY',
    );
    refuses({ STEWARD_ADMIN_KEY_FILE: file('short', 'short\n') }, 'STEWARD_ADMIN_KEY');
    refuses(
      { DATABASE_URL_FILE: file('bad-db', 'mysql://x\n'), STEWARD_MASTER_KEY: MASTER_HEX },
      'DATABASE_URL',
    );
  });
  it('reads the gateway rate limits as rate/burst, and refuses anything else', () => {
    assert.deepEqual(loadConfig({}).rateLimits, DEFAULT_RATE_LIMITS);
    const config = loadConfig({
      STEWARD_RATE_PER_IDENTITY: '5/10',
      STEWARD_RATE_PER_IDENTITY_UPSTREAM: ' 2/2 ',
      STEWARD_RATE_PER_UPSTREAM: '20000/40000',
      STEWARD_RATE_UNAUTHENTICATED: '1/3',
    });
    assert.deepEqual(config.rateLimits, {
      perIdentity: { perSecond: 5, burst: 10 },
      perIdentityUpstream: { perSecond: 2, burst: 2 },
      perUpstream: { perSecond: 20_000, burst: 40_000 },
      unauthenticated: { perSecond: 1, burst: 3 },
    });
    for (const bad of ['100', '0/10', '10/5', '-1/5', '1.5/3', '10/', 'ten/20', '1/2/3']) {
      refuses({ STEWARD_RATE_PER_IDENTITY: bad }, 'STEWARD_RATE_PER_IDENTITY');
    }
    refuses({ STEWARD_RATE_PER_UPSTREAM: '5/1' }, 'STEWARD_RATE_PER_UPSTREAM');
    refuses({ STEWARD_RATE_PER_IDENTITY_UPSTREAM: 'x' }, 'STEWARD_RATE_PER_IDENTITY_UPSTREAM');
    refuses({ STEWARD_RATE_UNAUTHENTICATED: '0/0' }, 'STEWARD_RATE_UNAUTHENTICATED');
  });

  it('reads the gateway store timeout and refusal window, within bounds', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.gatewayStoreTimeoutMs, 3_000);
    assert.equal(defaults.gatewayRefusalWindowSeconds, 60);
    const config = loadConfig({
      STEWARD_GATEWAY_STORE_TIMEOUT_MS: '750',
      STEWARD_GATEWAY_REFUSAL_WINDOW_SECONDS: '10',
    });
    assert.equal(config.gatewayStoreTimeoutMs, 750);
    assert.equal(config.gatewayRefusalWindowSeconds, 10);
    for (const bad of ['0', '99', '60001', '1.5', '-5', 'soon']) {
      refuses({ STEWARD_GATEWAY_STORE_TIMEOUT_MS: bad }, 'STEWARD_GATEWAY_STORE_TIMEOUT_MS');
    }
    for (const bad of ['0', '3601', 'x']) {
      refuses(
        { STEWARD_GATEWAY_REFUSAL_WINDOW_SECONDS: bad },
        'STEWARD_GATEWAY_REFUSAL_WINDOW_SECONDS',
      );
    }
  });
});
