/**
 * The embedded-mode data dir is the owner's alone, on every start, whatever it was before: the
 * folder 0700, every file 0600 (database, WAL, master key, bootstrap key); planted links and
 * other users' files are refused, not used. When standard output is not a terminal, the
 * bootstrap key goes to a 0600 file instead of the log, through the real `steward up` too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { tightenDataDir } from '../../src/server/data-dir.js';
import { BOOTSTRAP_KEY_FILE, DataDirUnsafeError, up } from '../../src/server/index.js';

const KEY = /stw_key_[0-9A-Za-z]{38}/;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const mode = (file: string) => statSync(file).mode & 0o777;

/** Every entry of `dir` with its mode, for a readable assertion. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = { '.': mode(dir).toString(8) };
  for (const name of readdirSync(dir)) out[name] = mode(path.join(dir, name)).toString(8);
  return out;
}

/** The folder 0700, each file in it 0600. */
function assertPrivate(dir: string): void {
  const expected: Record<string, string> = { '.': '700' };
  for (const name of readdirSync(dir)) expected[name] = '600';
  assert.deepEqual(modes(dir), expected);
}

describe('the data dir', () => {
  const dirs: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'steward-datadir-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('is tightened to 0700 and 0600 on every start, even when it was made 0777 beforehand', async () => {
    const dataDir = path.join(scratch(), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o777);
    const config = loadConfig({
      STEWARD_PORT: '0',
      STEWARD_LOG_LEVEL: 'silent',
      STEWARD_DATA_DIR: dataDir,
    });
    const lines: string[] = [];
    const first = await up(config, { interactive: false, announce: (text) => lines.push(text) });
    try {
      const files = readdirSync(dataDir).sort();
      for (const expected of ['master.key', 'steward.db', BOOTSTRAP_KEY_FILE])
        assert.ok(files.includes(expected), `${expected} missing: ${files.join(', ')}`);
      assertPrivate(dataDir);
    } finally {
      await first.close();
    }

    // Loosened while it was stopped (a restore, a careless chmod -R): tightened again on start.
    chmodSync(dataDir, 0o777);
    for (const name of readdirSync(dataDir)) chmodSync(path.join(dataDir, name), 0o666);
    writeFileSync(path.join(dataDir, 'notes.txt'), 'left here', { mode: 0o644 });
    const second = await up(config, { interactive: false, announce: () => {} });
    try {
      assertPrivate(dataDir);
      assert.ok(existsSync(path.join(dataDir, 'notes.txt')));
      // Written to since (the readiness probe): what SQLite made since is the owner's only too.
      assert.equal((await fetch(`${second.url}/readyz`)).status, 200);
      assertPrivate(dataDir);
    } finally {
      await second.close();
    }
  });

  it('refuses a planted link or another user\u2019s file instead of using it', async () => {
    const dataDir = scratch();
    const elsewhere = path.join(scratch(), 'attacker.key');
    writeFileSync(elsewhere, `${Buffer.alloc(32, 7).toString('base64')}\n`);
    symlinkSync(elsewhere, path.join(dataDir, 'master.key'));
    const config = loadConfig({
      STEWARD_PORT: '0',
      STEWARD_LOG_LEVEL: 'silent',
      STEWARD_DATA_DIR: dataDir,
    });
    // A start that wrongly succeeds is closed at once, so that the failure is reported, not hung.
    const refused = await up(config, { interactive: false, announce: () => {} }).then(
      async (running) => running.close(),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof DataDirUnsafeError, String(refused));
    assert.match(refused.message, /master\.key is a symbolic link/);
    assert.ok(!existsSync(path.join(dataDir, 'steward.db')), 'nothing was opened');

    // A file of another user: refused whatever its mode (checked here as if run by user 4242).
    const other = scratch();
    writeFileSync(path.join(other, 'master.key'), 'x', { mode: 0o600 });
    assert.throws(
      () => tightenDataDir(other, { uid: 4242 }),
      /belongs to user \d+, not to the user running Steward \(4242\)/,
    );
    assert.deepEqual(tightenDataDir(other), []);
  });

  it('without a terminal, writes the bootstrap key to a 0600 file and prints only where it is', async () => {
    const dataDir = scratch();
    const config = loadConfig({
      STEWARD_PORT: '0',
      STEWARD_LOG_LEVEL: 'silent',
      STEWARD_DATA_DIR: dataDir,
    });
    const lines: string[] = [];
    const running = await up(config, { interactive: false, announce: (text) => lines.push(text) });
    try {
      const file = path.join(dataDir, BOOTSTRAP_KEY_FILE);
      assert.equal(mode(file), 0o600);
      const key = readFileSync(file, 'utf8').trim();
      assert.match(key, /^stw_key_[0-9A-Za-z]{38}$/);
      assert.ok(
        lines.every((line) => !KEY.test(line)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((line) => line.includes(file)),
        lines.join('\n'),
      );
      const whoami = await fetch(`${running.url}/v1/whoami`, {
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(whoami.status, 200);
    } finally {
      await running.close();
    }
  });

  it('the real `steward up` with its output piped: the key is in the file, not on stdout', async () => {
    const dataDir = scratch();
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env))
      if (value !== undefined && !name.startsWith('STEWARD_') && name !== 'DATABASE_URL')
        env[name] = value;
    Object.assign(env, { STEWARD_CLI_ENTRY: '1', STEWARD_LOG_LEVEL: 'info' });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'up', '--port', '0', '--data-dir', dataDir],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          if (stdout.includes('Steward is up at')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      const file = path.join(dataDir, BOOTSTRAP_KEY_FILE);
      assert.ok(stdout.includes(`Bootstrap admin key written to ${file}`), stdout);
      assert.doesNotMatch(stdout, KEY);
      assert.doesNotMatch(stderr, KEY);
      assert.equal(mode(file), 0o600);
      assert.match(readFileSync(file, 'utf8'), KEY);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
