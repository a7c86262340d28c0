/**
 * `steward policy put` replaces the set on purpose (issue 9, fresh clone: a one-policy file
 * silently replaced five policies). Against a running Steward: the command shows what a file
 * removes, adds and changes; without a terminal it refuses removals unless --yes; --dry-run
 * stores nothing; and it sends If-Match with the version it read, so that a set stored in
 * between is not replaced. Reads and the other writer go to the API directly; only the commands
 * under test run as subprocesses.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningSteward } from '../../../src/server/index.js';
import { runCli, type CliRun } from '../../support/cli.js';
import { startSteward } from './fixtures.js';

const ADMIN_KEY = 'cli-policy-put-admin-key-0123456789abcdefghij';

const SANDBOX = `@id("sandbox-tools")
permit(principal in Steward::Service::"refund-agent", action == Steward::Action::"invoke_tool", resource)
when { context.environment == "sandbox" };`;
const NO_SENSITIVE = `@id("no-sensitive")
forbid(principal, action == Steward::Action::"invoke_tool", resource)
when { resource.sensitive };`;
/** Changes sandbox-tools, adds teamwide (naming a team that does not exist), drops no-sensitive. */
const NARROW = `@id("sandbox-tools")
permit(principal in Steward::Service::"refund-agent", action == Steward::Action::"invoke_tool", resource)
when { context.environment == "pilot" };
@id("teamwide") permit(principal in Steward::Team::"paymnets", action == Steward::Action::"list_tools", resource);`;

describe('steward policy put', () => {
  let steward: RunningSteward;
  let dir: string;

  const file = (name: string) => path.join(dir, name);
  const cli = (args: readonly string[], url = steward.url): Promise<CliRun> =>
    runCli(args, { url, key: ADMIN_KEY });
  const api = async (method: 'GET' | 'PUT', body?: unknown) => {
    const response = await fetch(`${steward.url}/v1/policies`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as { version: number; policies: { id: string }[] };
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'steward-policy-put-'));
    await writeFile(file('narrow.cedar'), NARROW);
    await writeFile(file('more.cedar'), `${NARROW}\n${NO_SENSITIVE}`);
    steward = await startSteward(dir, ADMIN_KEY);
  });
  after(async () => {
    await steward.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows what a file removes, adds and changes, and without a terminal removes nothing unless --yes', async () => {
    const { version } = await api('PUT', {
      policies: `${SANDBOX}\n${NO_SENSITIVE}`,
      message: 'two',
    });
    const plan = new RegExp(
      `version ${version} \\(2 policies\\) -> the file \\(2 policies\\):\\n` +
        '  removes no-sensitive\\n  adds {4}teamwide\\n  changes sandbox-tools\\n  keeps {3}0 policies as they are',
    );
    const [refused, dry] = await Promise.all([
      cli(['policy', 'put', file('narrow.cedar'), '--message', 'narrow']),
      cli(['policy', 'put', file('narrow.cedar'), '--message', 'narrow', '--dry-run']),
    ]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, plan);
    assert.match(
      refused.stderr,
      /warning: line 4: policy "teamwide" names Steward::Team::"paymnets", which does not exist/,
    );
    assert.match(
      refused.stderr,
      new RegExp(
        `error: this change removes 1 policy from version ${version} \\(no-sensitive\\); nothing was stored\\. .*--yes`,
      ),
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stderr, plan);
    assert.equal((await api('GET')).version, version, 'nothing was stored');

    const confirmed = await cli([
      'policy',
      'put',
      file('narrow.cedar'),
      '--message',
      'narrow',
      '--yes',
      '--json',
    ]);
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.equal((JSON.parse(confirmed.stdout) as { version: number }).version, version + 1);
    // Adding to the set removes nothing, and needs no confirmation.
    const added = await cli(['policy', 'put', file('more.cedar'), '--message', 'more']);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stderr, /adds {4}no-sensitive\n/);
    assert.deepEqual(
      (await api('GET')).policies.map((p) => p.id),
      ['sandbox-tools', 'teamwide', 'no-sensitive'],
    );
  });

  it('sends If-Match with the version it read: a set stored in between is not replaced', async () => {
    const seen: (string | undefined)[] = [];
    let interleave = false;
    // A loopback proxy in front of Steward that, when asked, has another writer store a version
    // just before it forwards the command's PUT: the command's read is then stale.
    const proxy = createServer((request, response) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of request) chunks.push(chunk as Buffer);
        if (request.method === 'PUT') {
          seen.push(request.headers['if-match']);
          if (interleave)
            await api('PUT', { policies: `${SANDBOX}\n${NO_SENSITIVE}`, message: 'meanwhile' });
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
      const via = `http://127.0.0.1:${address.port}`;
      const read = await api('GET');
      const put = await cli(
        ['policy', 'put', file('more.cedar'), '--message', 'same', '--json'],
        via,
      );
      assert.equal(put.code, 0, put.stderr);
      assert.deepEqual(seen, [`"${read.version}"`]);

      interleave = true;
      const stale = await cli(
        ['policy', 'put', file('narrow.cedar'), '--message', 'late', '--yes'],
        via,
      );
      assert.equal(stale.code, 3, stale.stderr);
      assert.match(
        stale.stderr,
        new RegExp(
          `policy_version_mismatch: The policy set is at version ${read.version + 2}, not ${read.version + 1}`,
        ),
      );
      const now = await api('GET');
      assert.equal(now.version, read.version + 2, 'the other writer stored; the command did not');
      assert.deepEqual(
        now.policies.map((p) => p.id),
        ['sandbox-tools', 'no-sensitive'],
      );
    } finally {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});
