/**
 * `steward demo`, the README's short path, end to end: the real command as a subprocess, as a
 * newcomer runs it (`npm run demo`). It must narrate the gateway's refusals and the trail's
 * records of them, exit 0, and leave nothing behind: no listening port, no data.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Every process a test started: one that a failed assertion left running is ended after. */
const started: ChildProcess[] = [];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a newcomer's shell: none of the developer's STEWARD_* settings. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('STEWARD_') && key !== 'DATABASE_URL') {
      env[key] = value;
    }
  }
  return env;
}

/**
 * Starts `command args` in the checkout; `until` resolves once stdout matches `ready` (or the
 * process ends), and `done` when the process has ended and closed its output.
 */
function start(
  command: string,
  args: readonly string[],
  ready?: RegExp,
): { until: Promise<string>; done: Promise<Run>; signal(name: NodeJS.Signals): void } {
  const child = spawn(command, args, { cwd: ROOT, env: cleanEnv() });
  started.push(child);
  let stdout = '';
  let stderr = '';
  let markReady: (text: string) => void = () => undefined;
  const until = new Promise<string>((resolve) => (markReady = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (ready?.test(stdout)) markReady(stdout);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end();
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      markReady(stdout);
      resolve({ code, stdout, stderr });
    });
  });
  return { until, done, signal: (name) => child.kill(name) };
}

/** Every http://127.0.0.1:<port> the demo printed: Steward and the two tools. */
function printedUrls(stdout: string): string[] {
  return [...new Set(stdout.match(/http:\/\/127\.0\.0\.1:\d+/g) ?? [])];
}

/** True when something accepts connections at `url`. */
function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The narration every successful run prints: allowed, hidden, refused, recorded. */
function assertNarration(stdout: string): void {
  assert.match(
    stdout,
    /^ {2}running as spiffe:\/\/steward\.local\/sandbox\/orders-agent\/planner$/m,
  );
  assert.match(stdout, /^ {2}tools I can see: lookup_order$/m, 'refund is hidden from the agent');
  assert.match(stdout, /^ {2}lookup_order → .*Order 1234/m);
  assert.match(stdout, /^ {2}refund → refused by the gateway: /m);
  assert.match(stdout, /^ {2}GET \/orders\/1234 → 200 /m);
  assert.match(stdout, /^ {2}POST \/refunds → 403 refused by the gateway: forbidden: /m);
  // The trail, as the demo prints it: the refused calls were decided and recorded.
  assert.match(stdout, /decision\.allow +invoke_tool +orders-mcp\/lookup_order +permitted by/);
  assert.match(stdout, /decision\.deny +invoke_tool +orders-mcp\/refund +no policy permits it/);
  assert.match(
    stdout,
    /decision\.deny +http_request +orders-api\/refund +POST \/refunds: no policy/,
  );
  assert.match(stdout, /gateway\.outcome +forwarded +orders-api +answered 200/);
}

describe('steward demo', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'steward-demo-test-'));
  });
  after(async () => {
    for (const child of started) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(work, { recursive: true, force: true });
  });

  it('npm run demo: shows the refusals and the trail, exits 0, and leaves nothing running', async () => {
    const run = await start('npm', ['run', '--silent', 'demo']).done;
    assert.equal(run.code, 0, `exit ${String(run.code)}\n${run.stdout}\n${run.stderr}`);
    assertNarration(run.stdout);
    assert.match(run.stdout, /Steward and the tools are stopped and the throwaway data is removed/);
    assert.equal(run.stderr, '', 'nothing on stderr: no warnings, no JSON log lines');

    const urls = printedUrls(run.stdout);
    assert.equal(urls.length, 3, `Steward and two tools, in ${urls.join(' ')}`);
    for (const url of urls) assert.equal(await listening(url), false, `${url} still listens`);
    const dataDir = /data in (\S+) \(SQLite, thrown away at the end\)/.exec(run.stdout)?.[1];
    assert.ok(dataDir !== undefined, 'names its throwaway data dir');
    assert.equal(existsSync(dataDir), false, `${dataDir} is left behind`);
  });

  describe('with --data-dir', () => {
    let dataDir: string;
    let adminKey: string;
    before(() => {
      dataDir = path.join(work, 'data');
    });

    it('--keep: keeps Steward and the tools running with a working admin key until stopped', async () => {
      const demo = start(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--keep', '--data-dir', dataDir],
        /Ctrl-C stops them[\s\S]*\(the tools: .*\)\n/,
      );
      const stdout = await demo.until;
      assertNarration(stdout);
      const url = /export STEWARD_URL=(\S+)/.exec(stdout)?.[1];
      adminKey = /export STEWARD_ADMIN_KEY=(stw_key_\w+)/.exec(stdout)?.[1] ?? '';
      assert.ok(url !== undefined && adminKey !== '', `prints the URL and the key:\n${stdout}`);
      const whoami = await fetch(`${url}/v1/whoami`, {
        headers: { authorization: `Bearer ${adminKey}` },
      });
      assert.equal(whoami.status, 200);
      assert.equal(((await whoami.json()) as { role: string }).role, 'admin');
      const urls = printedUrls(stdout);
      for (const each of urls) assert.equal(await listening(each), true, `${each} is down`);

      demo.signal('SIGTERM');
      const run = await demo.done;
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /\nStopped\.\n$/);
      for (const each of urls) assert.equal(await listening(each), false, `${each} still listens`);
      assert.ok(existsSync(path.join(dataDir, 'steward.db')), 'a given data dir is kept');
    });

    it('on an existing Steward: refuses without its admin key (exit 2), runs again with it', async () => {
      assert.ok(adminKey, 'the --keep test ran first');
      const refused = await runCli(['demo', '--data-dir', dataDir], {
        url: 'http://127.0.0.1:9',
        key: '',
        env: { STEWARD_ADMIN_KEY: undefined },
      });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /holds a Steward already[^\n]*set STEWARD_ADMIN_KEY/);

      // Again, with the key: what exists is kept, and the tools' new addresses are taken.
      const again = await runCli(['demo', '--data-dir', dataDir], {
        url: 'http://127.0.0.1:9',
        key: adminKey,
      });
      assert.equal(again.code, 0, again.stderr);
      assertNarration(again.stdout);
      assert.match(again.stdout, /Steward and the tools are stopped\.\n/);
    });
  });
});
