/**
 * `steward demo`, the README's short path, end to end: the real command as a subprocess, as a
 * newcomer runs it (`npm run demo`). It must narrate the gateway's refusals and the trail's
 * records of them, exit 0, and leave nothing behind: no listening port, no data. What it runs,
 * examples/setup.ts, is run twice here too, in this process, on both databases: running it again
 * on the same Steward must work.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.js';
import { up } from '../../src/server/index.js';
import { runExample } from '../../examples/setup.js';
import { runCli } from '../support/cli.js';
import { testDatabases, type TestDatabase } from '../support/databases.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The admin key of the Stewards this file starts itself. */
const EARLIER_KEY = 'demo-test-admin-key-0123456789abcdefghij';
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
  options: { ready?: RegExp; env?: Record<string, string> } = {},
): { until: Promise<string>; done: Promise<Run>; signal(name: NodeJS.Signals): void } {
  const { ready } = options;
  const child = spawn(command, args, { cwd: ROOT, env: { ...cleanEnv(), ...options.env } });
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

/** The narration every successful run prints: allowed, hidden, refused, and (`trail`) recorded. */
function assertNarration(stdout: string, { trail = true } = {}): void {
  assert.match(
    stdout,
    /^ {2}running as spiffe:\/\/steward\.local\/sandbox\/orders-agent\/planner$/m,
  );
  assert.match(stdout, /^ {2}tools I can see: lookup_order$/m, 'refund is hidden from the agent');
  assert.match(stdout, /^ {2}lookup_order → .*Order 1234/m);
  assert.match(stdout, /^ {2}refund → refused by the gateway: /m);
  assert.match(stdout, /^ {2}GET \/orders\/1234 → 200 /m);
  assert.match(stdout, /^ {2}POST \/refunds → 403 refused by the gateway: forbidden: /m);
  if (!trail) return;
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

  describe('with --data-dir of an existing Steward', () => {
    let dataDir: string;
    before(async () => {
      // A Steward that ran before, stopped now: its data, and an admin key of its own.
      dataDir = path.join(work, 'data');
      const earlier = await up(
        loadConfig({
          STEWARD_PORT: '0',
          STEWARD_DATA_DIR: dataDir,
          STEWARD_ADMIN_KEY: EARLIER_KEY,
          STEWARD_LOG_LEVEL: 'silent',
        }),
        { announce: () => undefined },
      );
      await earlier.close();
    });

    it('--keep with its admin key: keeps Steward and the tools running until stopped', async () => {
      const demo = start(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--keep', '--data-dir', dataDir],
        {
          ready: /Ctrl-C stops them[\s\S]*\(the tools: .*\)\n/,
          env: { STEWARD_ADMIN_KEY: EARLIER_KEY },
        },
      );
      const stdout = await demo.until;
      assertNarration(stdout);
      const url = /export STEWARD_URL=(\S+)/.exec(stdout)?.[1];
      assert.ok(url !== undefined, `prints the URL:\n${stdout}`);
      assert.ok(stdout.includes(`export STEWARD_ADMIN_KEY=${EARLIER_KEY}\n`), 'and the key');
      const whoami = await fetch(`${url}/v1/whoami`, {
        headers: { authorization: `Bearer ${EARLIER_KEY}` },
      });
      assert.equal(((await whoami.json()) as { role: string }).role, 'admin');
      const urls = printedUrls(stdout);
      assert.equal(urls.length, 3, `Steward and two tools, in ${urls.join(' ')}`);
      for (const each of urls) assert.equal(await listening(each), true, `${each} is down`);

      demo.signal('SIGTERM');
      const run = await demo.done;
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /\nStopped\.\n$/);
      for (const each of urls) assert.equal(await listening(each), false, `${each} still listens`);
      assert.ok(existsSync(path.join(dataDir, 'steward.db')), 'a given data dir is kept');
    });

    it('without its admin key, or with a wrong one: refused with exit 2, saying what to set', async () => {
      const refused = await runCli(['demo', '--data-dir', dataDir], {
        url: 'http://127.0.0.1:9',
        key: '',
        env: { STEWARD_ADMIN_KEY: undefined },
      });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /holds a Steward already[^\n]*set STEWARD_ADMIN_KEY/);
      assert.equal(refused.stdout, '', 'said before anything started');

      // A key it does not know is found once Steward is up, which then stops: the process ends.
      const wrong = await runCli(['demo', '--data-dir', dataDir], {
        url: 'http://127.0.0.1:9',
        key: 'stw_key_not-a-key-of-this-steward-at-all',
      });
      assert.equal(wrong.code, 2, wrong.stderr);
      assert.match(wrong.stderr, /holds a Steward already[^\n]*set STEWARD_ADMIN_KEY/);
      assert.doesNotMatch(wrong.stdout, /running as/, 'nothing ran');
      const url = /Steward is up at (\S+),/.exec(wrong.stdout)?.[1] ?? '';
      assert.equal(await listening(url), false, `${url} still listens`);
    });
  });
});

/** A Steward of this process on `database`, as `steward up` starts it; and how to stop it. */
async function stewardOn(database: TestDatabase): Promise<{ url: string; close(): Promise<void> }> {
  if (database.name === 'sqlite') {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'steward-example-'));
    const running = await up(
      loadConfig({
        STEWARD_PORT: '0',
        STEWARD_DATA_DIR: dataDir,
        STEWARD_ADMIN_KEY: EARLIER_KEY,
        STEWARD_LOG_LEVEL: 'silent',
      }),
      { announce: () => undefined },
    );
    return {
      url: running.url,
      close: async () => {
        await running.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  const store = await database.open();
  assert.equal(store.location.kind, 'postgres');
  const running = await up(
    loadConfig({
      STEWARD_PORT: '0',
      DATABASE_URL: store.location.url,
      STEWARD_MASTER_KEY: randomBytes(32).toString('hex'),
      STEWARD_ADMIN_KEY: EARLIER_KEY,
      STEWARD_LOG_LEVEL: 'silent',
    }),
    { announce: () => undefined },
  );
  return {
    url: running.url,
    close: async () => {
      await running.close();
      await store.dispose();
    },
  };
}

// What `steward demo` runs, in this process: run twice on one Steward, as the demo on a data dir
// it used before (or setup.ts against the same `npm start`) does.
for (const database of await testDatabases()) {
  describe(`examples/setup.ts, run twice on one Steward (${database.name})`, () => {
    it('keeps what exists, rotates the keys, follows the tools to their new ports, adds the policies once', async () => {
      const steward = await stewardOn(database);
      try {
        const admin = async (route: string) => {
          const response = await fetch(steward.url + route, {
            headers: { authorization: `Bearer ${EARLIER_KEY}` },
          });
          assert.equal(response.status, 200, route);
          return (await response.json()) as Record<string, unknown>;
        };
        for (const round of [1, 2]) {
          const lines: string[] = [];
          const run = await runExample({
            steward: steward.url,
            adminKey: EARLIER_KEY,
            log: (line) => lines.push(line),
          });
          try {
            assertNarration(lines.join('\n'), { trail: false });
            assert.equal((await admin('/v1/upstreams/orders-mcp'))['url'], run.mcpUrl);
            assert.equal((await admin('/v1/upstreams/orders-api'))['url'], run.apiUrl);
            assert.equal((await admin('/v1/secrets/orders-api-key'))['version'], round);
          } finally {
            await run.close();
          }
        }
        const { text } = (await admin('/v1/policies')) as { text: string };
        assert.equal(text.split('@id("orders-agent-list-tools")').length, 2, 'the policies once');
      } finally {
        await steward.close();
      }
    });
  });
}
