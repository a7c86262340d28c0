/**
 * `steward admin recover` through the real, built `steward` binary, on both databases: with the
 * data dir (or DATABASE_URL) and the master key it mints an admin key that works, printed once,
 * recorded as apikey.created and admin.recovered with the OS user and host; without the master
 * key, with another one, or with Steward still holding the SQLite data dir, it refuses and
 * changes nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { POSTGRES_ADMIN_URL, testDatabases } from '../support/databases.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KEY = /stw_key_[0-9A-Za-z]{38}/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `bin/steward.js <args>`, the installed command, with only the variables given. */
function steward(args: readonly string[], vars: Record<string, string>): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env))
    if (value !== undefined && !name.startsWith('STEWARD_') && name !== 'DATABASE_URL')
      env[name] = value;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/steward.js', ...args], {
      cwd: ROOT,
      env: { ...env, ...vars },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function get(
  running: RunningSteward,
  key: string,
  url: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${running.url}${url}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

interface AuditEvent {
  type: string;
  actor: string;
  target: { kind: string; id: string };
  after: Record<string, unknown>;
}

/** Checks the trail of `running` for the recovery of key `id`, as the recovered key itself. */
async function assertRecorded(running: RunningSteward, key: string, id: string): Promise<void> {
  const trail = await get(running, key, '/v1/audit?order=asc&limit=500');
  assert.equal(trail.status, 200);
  const events = (trail.body['items'] as AuditEvent[]).filter((event) => event.target.id === id);
  assert.deepEqual(
    events.map((event) => event.type),
    ['apikey.created', 'admin.recovered'],
  );
  const recovered = events[1];
  assert.ok(recovered);
  assert.equal(recovered.actor, 'system');
  assert.equal(recovered.after['osUser'], userInfo().username);
  assert.equal(recovered.after['host'], hostname());
  assert.equal((recovered.after['apiKey'] as { role: string }).role, 'admin');
  assert.doesNotMatch(JSON.stringify(events), KEY, 'the key itself is not in the trail');
}

const quiet = { STEWARD_PORT: '0', STEWARD_LOG_LEVEL: 'silent' };
// Asked before any test runs: a Steward starting blocks the event loop long enough to time it out.
const withPostgres = (await testDatabases()).some((database) => database.name === 'postgres');

describe('steward admin recover on SQLite', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses without the master key, with another one, or while Steward runs; then mints a key that works', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'steward-recover-'));
    dirs.push(dataDir);
    const config = loadConfig({ ...quiet, STEWARD_DATA_DIR: dataDir });
    // The first start's bootstrap key is "lost": it goes to a file nobody reads.
    const first = await up(config, { interactive: false, announce: () => {} });
    try {
      const running = await steward(['admin', 'recover', '--data-dir', dataDir], {});
      assert.equal(running.code, 2, running.stderr);
      assert.match(running.stderr, /in use by another Steward process/);
      assert.doesNotMatch(running.stdout, KEY);
    } finally {
      await first.close();
    }

    // Without the master key: the generated one moved away, none given.
    const keyFile = path.join(dataDir, 'master.key');
    const keptAside = path.join(tmpdir(), `steward-recover-${process.pid}.key`);
    renameSync(keyFile, keptAside);
    try {
      const none = await steward(['admin', 'recover', '--data-dir', dataDir], {});
      assert.equal(none.code, 2, none.stderr);
      assert.match(none.stderr, /No master key: set STEWARD_MASTER_KEY/);
      assert.doesNotMatch(none.stdout, KEY);

      const wrong = await steward(['admin', 'recover', '--data-dir', dataDir], {
        STEWARD_MASTER_KEY: randomBytes(32).toString('base64'),
      });
      assert.equal(wrong.code, 4, wrong.stderr);
      assert.match(wrong.stderr, /does not open what this database holds/);
      assert.doesNotMatch(wrong.stdout + wrong.stderr, KEY);
    } finally {
      renameSync(keptAside, keyFile);
    }

    const nowhere = await steward(['admin', 'recover', '--data-dir', path.join(dataDir, 'x')], {});
    assert.equal(nowhere.code, 2, nowhere.stderr);
    assert.match(nowhere.stderr, /There is no Steward database in/);

    const recovered = await steward(['admin', 'recover', '--data-dir', dataDir, '--json'], {});
    assert.equal(recovered.code, 0, recovered.stderr);
    const created = JSON.parse(recovered.stdout) as { id: string; key: string; role: string };
    assert.match(created.key, KEY);
    assert.equal(created.role, 'admin');

    const restarted = await up(config, { interactive: false, announce: () => {} });
    try {
      const whoami = await get(restarted, created.key, '/v1/whoami');
      assert.equal(whoami.status, 200);
      assert.equal(whoami.body['role'], 'admin');
      await assertRecorded(restarted, created.key, created.id);
      // The refusals above changed nothing: the bootstrap key and this one, no other.
      const keys = await get(restarted, created.key, '/v1/api-keys');
      assert.deepEqual((keys.body['items'] as { name: string }[]).map((k) => k.name).sort(), [
        'bootstrap',
        'recovered',
      ]);
    } finally {
      await restarted.close();
    }
  });

  it('prints the key once for a person, with what to do next', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'steward-recover-'));
    dirs.push(dataDir);
    const config = loadConfig({ ...quiet, STEWARD_DATA_DIR: dataDir });
    await (await up(config, { interactive: false, announce: () => {} })).close();
    const run = await steward(['admin', 'recover', '--data-dir', dataDir, '--name', 'alice'], {});
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Recovered admin key \(shown once, never again; store it now\)/);
    assert.equal(run.stdout.match(new RegExp(KEY.source, 'g'))?.length, 1);
    assert.match(run.stdout, /admin\.recovered/);
  });
});

describe(
  'steward admin recover on PostgreSQL',
  {
    skip: !withPostgres && 'PostgreSQL not reachable',
  },
  () => {
    const name = `steward_recover_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = async (statement: string) => {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await client.connect();
      try {
        await client.query(statement);
      } finally {
        await client.end();
      }
    };
    after(async () => admin(`drop database if exists ${name} with (force)`));

    it('mints a key that a running replica accepts at once; refuses without or with another master key', async () => {
      await admin(`create database ${name}`);
      const url = new URL(POSTGRES_ADMIN_URL);
      url.pathname = `/${name}`;
      const masterKey = randomBytes(32).toString('hex');
      const config = loadConfig({
        ...quiet,
        DATABASE_URL: url.href,
        STEWARD_MASTER_KEY: masterKey,
        STEWARD_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'steward-recover-pg-')),
      });
      const running = await up(config, { interactive: false, announce: () => {} });
      try {
        const none = await steward(['admin', 'recover'], { DATABASE_URL: url.href });
        assert.equal(none.code, 2, none.stderr);
        assert.match(none.stderr, /STEWARD_MASTER_KEY: is required with DATABASE_URL/);

        const wrong = await steward(['admin', 'recover'], {
          DATABASE_URL: url.href,
          STEWARD_MASTER_KEY: randomBytes(32).toString('hex'),
        });
        assert.equal(wrong.code, 4, wrong.stderr);
        assert.doesNotMatch(wrong.stdout, KEY);

        const recovered = await steward(['admin', 'recover', '--json'], {
          DATABASE_URL: url.href,
          STEWARD_MASTER_KEY: masterKey,
        });
        assert.equal(recovered.code, 0, recovered.stderr);
        const created = JSON.parse(recovered.stdout) as { id: string; key: string };
        const whoami = await get(running, created.key, '/v1/whoami');
        assert.equal(whoami.status, 200);
        assert.equal(whoami.body['role'], 'admin');
        await assertRecorded(running, created.key, created.id);
      } finally {
        await running.close();
      }
    });
  },
);
