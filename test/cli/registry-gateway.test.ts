/**
 * `steward secret`, `steward upstream` and `steward egress` as subprocesses against a running
 * Steward: a value goes in from a file or stdin and never comes out, not even on the terminal.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { up, type RunningSteward } from '../../src/server/index.js';
import { runCli, type CliRun } from '../support/cli.js';

const ADMIN_KEY = 'cli-gateway-admin-key-0123456789abcdefgh';
const VALUE = 'sk-cli-PLAINTEXT-value-42';

type Run = CliRun;

describe('steward secret, upstream and egress', () => {
  let steward: RunningSteward;
  let dataDir: string;

  function cli(args: readonly string[], input?: string): Promise<CliRun> {
    return runCli(args, {
      url: steward.url,
      key: ADMIN_KEY,
      ...(input === undefined ? {} : { input }),
    });
  }

  function ok(run: Run): Run {
    assert.equal(run.code, 0, `exit ${String(run.code)}, stderr: ${run.stderr}`);
    assert.ok(!run.stdout.includes(VALUE) && !run.stderr.includes(VALUE), 'the value was echoed');
    return run;
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'steward-cli-gw-'));
    steward = await up(
      loadConfig({
        STEWARD_PORT: '0',
        STEWARD_DATA_DIR: dataDir,
        STEWARD_ADMIN_KEY: ADMIN_KEY,
        STEWARD_LOG_LEVEL: 'silent',
      }),
      { announce: () => {} },
    );
    await steward.core.teams.create(
      { actor: { ref: 'system', role: 'system' } },
      { name: 'payments', contact: 'p@example.com', escalation: 'e' },
    );
  });
  after(async () => {
    await steward.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates from a file, rotates from stdin, warns about --value, never echoes', async () => {
    const file = path.join(dataDir, 'crm-key.txt');
    await writeFile(file, `${VALUE}\n`);
    const created = ok(
      await cli([
        'secret',
        'create',
        'crm-key',
        '--team',
        'payments',
        '--value-file',
        file,
        '--json',
      ]),
    );
    assert.equal((JSON.parse(created.stdout) as { version: number }).version, 1);
    assert.equal(await steward.core.secrets.reveal('crm-key'), VALUE, 'the newline was dropped');

    ok(await cli(['secret', 'rotate', 'crm-key', '--value', '-'], `${VALUE}-2\n`));
    assert.equal(await steward.core.secrets.reveal('crm-key'), `${VALUE}-2`);

    const flagged = ok(await cli(['secret', 'rotate', 'crm-key', '--value', `${VALUE}-3`]));
    assert.match(flagged.stderr, /shell history/);

    const listed = ok(await cli(['secret', 'list']));
    assert.match(listed.stdout, /crm-key\s+payments\s+3/);
    const missing = await cli(['secret', 'create', 'other']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /a value is required/);
  });

  it('registers an upstream after allowing its address, and removes the allowance by address', async () => {
    const refused = await cli([
      'upstream',
      'create',
      'crm',
      '--kind',
      'mcp',
      '--base-url',
      'http://127.0.0.1:9/mcp',
      '--team',
      'payments',
      '--classification',
      'confidential',
      '--credential-secret',
      'crm-key',
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /egress_refused/);
    ok(await cli(['egress', 'allow', '127.0.0.1', '--reason', 'local test servers']));
    const created = ok(
      await cli([
        'upstream',
        'create',
        'crm',
        '--kind',
        'mcp',
        '--base-url',
        'http://127.0.0.1:9/mcp',
        '--team',
        'payments',
        '--classification',
        'confidential',
        '--credential-secret',
        'crm-key',
        '--operation',
        'refund',
        '--operation',
        'lookup',
        '--sensitive',
        'refund',
        '--rate-limit',
        '10/20',
        '--json',
      ]),
    );
    const upstream = JSON.parse(created.stdout) as { sensitive: string[]; rateLimit: unknown };
    assert.deepEqual(upstream.sensitive, ['refund']);
    assert.deepEqual(upstream.rateLimit, { perSecond: 10, burst: 20 });
    ok(await cli(['upstream', 'update', 'crm', '--timeout-ms', '5000']));
    assert.match(ok(await cli(['upstream', 'list'])).stdout, /crm\s+mcp\s+payments/);
    assert.match(ok(await cli(['egress', 'list'])).stdout, /127\.0\.0\.1\/32/);
    const inUse = await cli(['secret', 'delete', 'crm-key']);
    assert.match(inUse.stderr, /secret_in_use/);
    ok(await cli(['egress', 'remove', '127.0.0.1']));
    ok(await cli(['upstream', 'delete', 'crm']));
    ok(await cli(['secret', 'delete', 'crm-key']));
  });
});
