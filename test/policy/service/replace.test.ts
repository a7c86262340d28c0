/**
 * Replacing the policy set on purpose (issue 9, fresh clone): a `policy put` of a one-policy file
 * silently replaced five policies. Through the HTTP API on both databases: the set's version is
 * its ETag, `If-Match` makes a write conditional (412 `policy_version_mismatch` when the set
 * changed since it was read, nothing stored), and validation warns about entities the policies
 * name that do not exist (`unknown_entity`) without refusing them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { SYSTEM_ACTOR } from '../../../src/actors/index.js';
import { assertProblem } from '../../http/fixtures.js';
import { OWNER_TEAM, startTestApp, type TestApp } from '../../support/app.js';
import { testDatabases } from '../../support/databases.js';
import { createWorkload } from './fixtures.js';

const system = { actor: SYSTEM_ACTOR };

const ONE = '@id("one") permit(principal, action == Steward::Action::"list_tools", resource);';
const TWO = '@id("two") forbid(principal, action == Steward::Action::"read_dataset", resource);';

interface Warning {
  code: string;
  policyId?: string;
  line?: number;
  entity?: { type: string; id: string };
  detail: string;
}

for (const database of await testDatabases()) {
  describe(`replacing the policy set on ${database.name}`, () => {
    let t: TestApp;
    let workload: string;
    before(async () => {
      t = await startTestApp(database);
      workload = await createWorkload(t);
      await t.core.upstreams.create(system, {
        name: 'crm',
        kind: 'mcp',
        url: 'https://203.0.113.10/mcp',
        team: OWNER_TEAM,
        classification: 'internal',
        operations: [{ name: 'lookup' }, { name: 'refund', sensitive: true }],
      });
      await t.core.upstreams.create(system, {
        name: 'search',
        kind: 'mcp',
        url: 'https://203.0.113.11/mcp',
        team: OWNER_TEAM,
        classification: 'internal',
      });
    });
    after(async () => t.close());

    const put = (policies: string, headers: Record<string, string> = {}) =>
      t.call('admin', {
        method: 'PUT',
        url: '/v1/policies',
        payload: { policies, message: 'replace' },
        headers,
      });
    const current = async (): Promise<{ version: number; etag: unknown; ids: string[] }> => {
      const response = await t.call('auditor', { method: 'GET', url: '/v1/policies' });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json<{ version: number; policies: { id: string }[] }>();
      return {
        version: body.version,
        etag: response.headers['etag'],
        ids: body.policies.map((p) => p.id),
      };
    };
    const writes = async (): Promise<number> =>
      (
        await t.store.db
          .selectFrom('audit_events')
          .select('id')
          .where('type', 'in', ['policy.updated', 'policy.rolled_back'])
          .execute()
      ).length;
    const versionOf = (response: LightMyRequestResponse): number => {
      assert.equal(response.statusCode, 200, response.body);
      const { version } = response.json<{ version: number }>();
      assert.equal(response.headers['etag'], `"${version}"`);
      return version;
    };

    it('names the version as the ETag of GET and PUT, and writes when If-Match is current', async () => {
      const start = await current();
      assert.equal(start.etag, `"${start.version}"`);
      const written = versionOf(await put(`${ONE}\n${TWO}`, { 'if-match': `"${start.version}"` }));
      assert.equal(written, start.version + 1);
      const now = await current();
      assert.equal(now.etag, `"${written}"`);
      assert.deepEqual(now.ids, ['one', 'two']);
    });

    it('refuses a stale If-Match with 412 policy_version_mismatch and stores nothing', async () => {
      const read = await current();
      versionOf(await put(`${ONE}\n${TWO}`, { 'if-match': `"${read.version}"` }));
      const before = await writes();
      const stale = await put(ONE, { 'if-match': `"${read.version}"` });
      assertProblem(stale, 'stale If-Match', { status: 412, code: 'policy_version_mismatch' });
      assert.match(
        stale.json<{ detail: string }>().detail,
        new RegExp(`version ${read.version + 1}, not ${read.version}`),
      );
      const after = await current();
      assert.equal(after.version, read.version + 1);
      assert.deepEqual(after.ids, ['one', 'two'], 'nothing was removed');
      assert.equal(await writes(), before, 'nothing was recorded');
      const rollback = await t.call('admin', {
        method: 'POST',
        url: '/v1/policy/rollback',
        payload: { version: 1, message: 'back' },
        headers: { 'if-match': `"${read.version}"` },
      });
      assertProblem(rollback, 'stale rollback', { status: 412, code: 'policy_version_mismatch' });
      assert.equal((await current()).version, read.version + 1);
    });

    it('of two writers who read the same version, stores exactly one', async () => {
      const read = await current();
      const answers = await Promise.all(
        ['one', 'two', 'three', 'four'].map((id) =>
          put(
            `@id("${id}") permit(principal, action == Steward::Action::"list_tools", resource);`,
            {
              'if-match': `"${read.version}"`,
            },
          ),
        ),
      );
      assert.deepEqual(
        answers.map((a) => a.statusCode).sort(),
        [200, 412, 412, 412],
        answers.map((a) => a.body).join('\n'),
      );
      assert.equal((await current()).version, read.version + 1);
    });

    it('accepts 7, W/"7", a list and *; still writes without If-Match (scripts)', async () => {
      for (const header of [
        (v: number) => String(v),
        (v: number) => `W/"${v}"`,
        (v: number) => `"${v + 5}", "${v}"`,
        () => '*',
        undefined,
      ]) {
        const { version } = await current();
        const response = await put(
          ONE,
          header === undefined ? {} : { 'if-match': header(version) },
        );
        assert.equal(versionOf(response), version + 1);
      }
    });

    it('refuses an If-Match that names no version (400, not unconditional)', async () => {
      const { version } = await current();
      for (const header of ['abc', '"v1"', '"-1"', '"99999999999"', '', '"1', 'W/']) {
        const response = await put(ONE, { 'if-match': header });
        assertProblem(response, `If-Match: ${header}`, { status: 400, code: 'validation_failed' });
        assert.equal(
          response.json<{ errors: { pointer: string }[] }>().errors[0]?.pointer,
          '/headers/if-match',
        );
      }
      assert.equal((await current()).version, version);
    });

    it('warns about entities the policies name that do not exist, without refusing them', async () => {
      const text = [
        `@id("known") permit(principal in Steward::Team::"${OWNER_TEAM}", action == Steward::Action::"invoke_tool", resource in Steward::Upstream::"crm");`,
        `@id("known-ids") permit(principal == Steward::Workload::"${workload}", action == Steward::Action::"invoke_tool", resource == Steward::Tool::"crm/refund")`,
        '  when { principal in Steward::Service::"refund-agent" };',
        '@id("listed-at-run-time") permit(principal, action == Steward::Action::"invoke_tool", resource == Steward::Tool::"search/anything");',
        '@id("typo") permit(principal in Steward::Team::"paymnets", action == Steward::Action::"invoke_tool", resource);',
        '@id("ghosts") forbid(principal == Steward::Workload::"00000000-0000-4000-8000-000000000000", action == Steward::Action::"invoke_tool", resource in Steward::Upstream::"crn")',
        '  unless { principal in Steward::Service::"refund-agnet" || resource == Steward::Tool::"crm/refnud" || resource == Steward::Tool::"nowhere/x" };',
      ].join('\n');
      const validated = await t.call('auditor', {
        method: 'POST',
        url: '/v1/policy/validate',
        payload: { policies: text },
      });
      assert.equal(validated.statusCode, 200, validated.body);
      const warnings = validated.json<{ warnings: Warning[] }>().warnings;
      const unknown = warnings.filter((w) => w.code === 'unknown_entity');
      assert.deepEqual(
        unknown.map((w) => [w.policyId, w.line, `${w.entity?.type}::${w.entity?.id}`]).sort(),
        [
          ['ghosts', 6, 'Steward::Service::refund-agnet'],
          ['ghosts', 6, 'Steward::Tool::crm/refnud'],
          ['ghosts', 6, 'Steward::Tool::nowhere/x'],
          ['ghosts', 6, 'Steward::Upstream::crn'],
          ['ghosts', 6, 'Steward::Workload::00000000-0000-4000-8000-000000000000'],
          ['typo', 5, 'Steward::Team::paymnets'],
        ],
      );
      assert.match(
        unknown.find((w) => w.policyId === 'typo')?.detail ?? '',
        /line 5: policy "typo" names Steward::Team::"paymnets", which does not exist/,
      );
      const stored = await put(text);
      assert.equal(stored.statusCode, 200, stored.body);
      assert.deepEqual(stored.json<{ warnings: Warning[] }>().warnings, warnings);
      const simulated = await t.call('admin', {
        method: 'POST',
        url: '/v1/policy/simulate',
        payload: { policies: text },
      });
      assert.deepEqual(simulated.json<{ warnings: Warning[] }>().warnings, warnings);
      // Created later, the team is known at once.
      await t.core.teams.create(system, {
        name: 'paymnets',
        contact: 'p@example.com',
        escalation: '+1-555-0100',
      });
      const again = await t.call('auditor', {
        method: 'POST',
        url: '/v1/policy/validate',
        payload: { policies: text },
      });
      assert.ok(
        !again.json<{ warnings: Warning[] }>().warnings.some((w) => w.entity?.id === 'paymnets'),
      );
    });
  });
}
