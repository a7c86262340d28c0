/**
 * `steward policy …` as a user runs it: local validate and test (no server), then put, get,
 * versions, rollback, simulate and schema against a running Steward.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningSteward } from '../../../src/server/index.js';
import { runCli, type CliRun } from '../../support/cli.js';
import { startSteward } from './fixtures.js';

const ADMIN_KEY = 'cli-policy-admin-key-0123456789abcdefghij';

const POLICIES = `@id("sandbox-tools")
permit(principal in Steward::Service::"refund-agent", action == Steward::Action::"invoke_tool", resource)
when { context.environment == "sandbox" };

@id("no-sensitive") @approval("security")
forbid(principal, action == Steward::Action::"invoke_tool", resource)
when { resource.sensitive };
`;

const TESTS = {
  entities: [
    {
      type: 'Service',
      id: 'refund-agent',
      attrs: { name: 'refund-agent', team: 'payments', dataClassification: 'internal' },
      parents: [],
    },
    {
      type: 'Workload',
      id: 'w1',
      attrs: {
        spiffeId: 'spiffe://t/sandbox/refund-agent/planner',
        service: 'refund-agent',
        environment: 'sandbox',
        agentPath: 'planner',
        team: 'payments',
        status: 'active',
      },
      parents: [{ type: 'Service', id: 'refund-agent' }],
    },
    {
      type: 'Tool',
      id: 'crm/lookup',
      attrs: { name: 'lookup', upstream: 'crm', sensitive: false },
      parents: [],
    },
    {
      type: 'Tool',
      id: 'crm/refund',
      attrs: { name: 'refund', upstream: 'crm', sensitive: true },
      parents: [],
    },
  ],
  tests: [
    {
      name: 'lookup in the sandbox',
      principal: { id: 'w1' },
      action: 'invoke_tool',
      resource: { type: 'Tool', id: 'crm/lookup' },
      context: { environment: 'sandbox', time: '2026-01-01T10:00:00Z' },
      expect: 'allow',
    },
    {
      name: 'refund is sensitive',
      principal: { id: 'w1' },
      action: 'invoke_tool',
      resource: { type: 'Tool', id: 'crm/refund' },
      context: { environment: 'sandbox', time: '2026-01-01T10:00:00Z' },
      expect: 'deny',
    },
  ],
};

describe('steward policy', () => {
  let steward: RunningSteward;
  let dir: string;

  function cli(args: readonly string[]): Promise<CliRun> {
    return runCli(args, { url: steward.url, key: ADMIN_KEY });
  }
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'steward-policy-cli-'));
    await writeFile(file('policies.cedar'), POLICIES);
    await writeFile(
      file('bad.cedar'),
      'permit(principal, action, resource)\n  when { context.nope };\n',
    );
    await writeFile(file('tests.json'), JSON.stringify(TESTS));
    await writeFile(
      file('failing.json'),
      JSON.stringify({
        ...TESTS,
        tests: [{ ...TESTS.tests[1], name: 'expects a refund', expect: 'allow' }],
      }),
    );
    steward = await startSteward(dir, ADMIN_KEY);
  });
  after(async () => {
    await steward.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('validates locally, pointing at file:line:column', async () => {
    const [good, bad] = await Promise.all([
      cli(['policy', 'validate', file('policies.cedar')]),
      cli(['policy', 'validate', file('bad.cedar')]),
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /valid, 2 policies/);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.cedar:2:10: .*nope/);
  });

  it('runs policy tests locally and exits non-zero on a mismatch', async () => {
    const [passing, failing] = await Promise.all([
      cli(['policy', 'test', file('tests.json'), '--policies', file('policies.cedar')]),
      cli(['policy', 'test', file('failing.json'), '--policies', file('policies.cedar')]),
    ]);
    assert.equal(passing.code, 0, passing.stdout + passing.stderr);
    assert.match(passing.stdout, /2 passed, 0 failed/);
    assert.equal(failing.code, 1);
    assert.match(
      failing.stdout,
      /FAIL {2}expects a refund: expected allow, got deny \(forbidden by no-sensitive\)/,
    );
  });

  it('puts, gets, lists, rolls back and simulates through the API', async () => {
    const put = await cli([
      'policy',
      'put',
      file('policies.cedar'),
      '--message',
      'first',
      '--json',
    ]);
    assert.equal(put.code, 0, put.stderr);
    assert.equal((JSON.parse(put.stdout) as { version: number }).version, 1);
    const refused = await cli(['policy', 'put', file('bad.cedar'), '--message', 'broken']);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /policy_invalid/);
    assert.match(refused.stderr, /line 2, column 10/);
    const get = await cli(['policy', 'get']);
    assert.equal(get.stdout, POLICIES);
    const rollback = await cli(['policy', 'rollback', '1', '--message', 'again', '--json']);
    assert.equal((JSON.parse(rollback.stdout) as { version: number }).version, 2, rollback.stderr);
    const versions = await cli(['policy', 'versions']);
    assert.match(versions.stdout, /^2\s+2\s+/m);
    const [simulate, schema] = await Promise.all([
      cli(['policy', 'simulate', file('policies.cedar'), '--since', '1h']),
      cli(['policy', 'schema']),
    ]);
    assert.equal(simulate.code, 0, simulate.stderr);
    assert.match(simulate.stdout, /0 decisions replayed, 0 would change/);
    assert.match(schema.stdout, /^namespace Steward \{/);
  });
});
