/**
 * `steward policy …` as a user runs it: local validate and test (no server), then put, get,
 * versions, rollback, simulate and schema against a running Steward.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/index.js';
import { up, type RunningSteward } from '../../../src/server/index.js';
import { runCli, type CliRun } from '../../support/cli.js';

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
    steward = await up(
      loadConfig({
        STEWARD_PORT: '0',
        STEWARD_DATA_DIR: path.join(dir, 'data'),
        STEWARD_ADMIN_KEY: ADMIN_KEY,
        STEWARD_LOG_LEVEL: 'silent',
      }),
      { announce: () => {} },
    );
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

  // Issue 9: `policy put` of a one-policy file silently replaced the whole set.
  it('put shows what a file removes, adds and changes, and without a terminal refuses removals unless --yes', async () => {
    const before = JSON.parse((await cli(['policy', 'get', '--json'])).stdout) as {
      version: number;
    };
    await writeFile(
      file('one.cedar'),
      [
        '@id("sandbox-tools")',
        'permit(principal in Steward::Service::"refund-agent", action == Steward::Action::"invoke_tool", resource)',
        'when { context.environment == "pilot" };',
        '@id("teamwide") permit(principal in Steward::Team::"paymnets", action == Steward::Action::"list_tools", resource);',
      ].join('\n'),
    );
    const plan = new RegExp(
      `version ${before.version} \\(2 policies\\) -> the file \\(2 policies\\):\\n` +
        '  removes no-sensitive\\n  adds    teamwide\\n  changes sandbox-tools\\n  keeps   0 policies as they are',
    );
    const refused = await cli(['policy', 'put', file('one.cedar'), '--message', 'narrow']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, plan);
    assert.match(
      refused.stderr,
      /warning: line 4: policy "teamwide" names Steward::Team::"paymnets", which does not exist/,
    );
    assert.match(
      refused.stderr,
      new RegExp(
        `error: this change removes 1 policy from version ${before.version} \\(no-sensitive\\); nothing was stored\\. .*--yes`,
      ),
    );
    const dry = await cli(['policy', 'put', file('one.cedar'), '--message', 'narrow', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stderr, plan);
    const unchanged = JSON.parse((await cli(['policy', 'get', '--json'])).stdout) as {
      version: number;
    };
    assert.equal(unchanged.version, before.version, 'nothing was stored');
    const confirmed = await cli([
      'policy',
      'put',
      file('one.cedar'),
      '--message',
      'narrow',
      '--yes',
      '--json',
    ]);
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.equal((JSON.parse(confirmed.stdout) as { version: number }).version, before.version + 1);
    // Adding to the set removes nothing and needs no confirmation.
    await writeFile(
      file('more.cedar'),
      `${await readFile(file('one.cedar'), 'utf8')}\n${POLICIES.slice(POLICIES.indexOf('@id("no-sensitive")'))}`,
    );
    const added = await cli(['policy', 'put', file('more.cedar'), '--message', 'more']);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stderr, /adds {4}no-sensitive\n/);
  });

  it('put sends If-Match with the version it read: a set stored in between is not replaced', async () => {
    const seen: (string | undefined)[] = [];
    let interleave = false;
    // A loopback proxy in front of Steward that, when asked, stores another version just before
    // forwarding the CLI's PUT: the CLI's read is then stale.
    const proxy = createServer((request, response) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of request) chunks.push(chunk as Buffer);
        if (request.method === 'PUT') {
          seen.push(request.headers['if-match']);
          if (interleave) {
            const other = await cli([
              'policy',
              'put',
              file('more.cedar'),
              '--message',
              'meanwhile',
            ]);
            assert.equal(other.code, 0, other.stderr);
          }
        }
        const headers = new Headers();
        for (const [name, value] of Object.entries(request.headers)) {
          if (typeof value === 'string' && name !== 'host' && name !== 'content-length') {
            headers.set(name, value);
          }
        }
        const answer = await fetch(`${steward.url}${request.url ?? '/'}`, {
          method: request.method ?? 'GET',
          headers,
          ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
        });
        response.writeHead(answer.status, {
          'content-type': answer.headers.get('content-type') ?? '',
        });
        response.end(Buffer.from(await answer.arrayBuffer()));
      })();
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const address = proxy.address();
      assert.ok(address !== null && typeof address === 'object');
      const via = (args: readonly string[]) =>
        runCli(args, { url: `http://127.0.0.1:${address.port}`, key: ADMIN_KEY });
      const read = JSON.parse((await cli(['policy', 'get', '--json'])).stdout) as {
        version: number;
      };
      const put = await via(['policy', 'put', file('more.cedar'), '--message', 'same', '--json']);
      assert.equal(put.code, 0, put.stderr);
      assert.deepEqual(seen, [`"${read.version}"`]);
      interleave = true;
      const stale = await via(['policy', 'put', file('one.cedar'), '--message', 'late', '--yes']);
      assert.equal(stale.code, 3, stale.stderr);
      assert.match(
        stale.stderr,
        /policy_version_mismatch: The policy set is at version \d+, not \d+/,
      );
      const after = JSON.parse((await cli(['policy', 'get', '--json'])).stdout) as {
        version: number;
        policies: { id: string }[];
      };
      assert.equal(after.version, read.version + 2, 'the other writer stored; the CLI did not');
      assert.ok(
        after.policies.some((p) => p.id === 'no-sensitive'),
        'nothing was removed',
      );
    } finally {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});
