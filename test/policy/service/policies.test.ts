/**
 * The policy store and the decision point through the HTTP API, on both databases: versions,
 * validation with positions (and nothing stored), limits, owners' view, decisions by identity and
 * by token with explanations and annotations, simulation and findings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { SYSTEM_ACTOR } from '../../../src/actors/index.js';
import { POLICY_LIMITS, registrySource, SCHEMA_TEXT } from '../../../src/policy/index.js';
import {
  assertProblem,
  dumpDatabase,
  FIXTURE_TOOL,
  OTHER_TEAM,
  ensureTeam,
} from '../../http/fixtures.js';
import { OWNER_TEAM, startTestApp, type TestApp } from '../../support/app.js';
import { testDatabases } from '../../support/databases.js';
import { createWorkload } from './fixtures.js';
import { api, attest } from '../../tokens/fixtures.js';

const system = { actor: SYSTEM_ACTOR };

const POLICIES = `// Tools for the owners' team, in the sandbox.
@id("sandbox-tools")
permit(
  principal in Steward::Team::"${OWNER_TEAM}",
  action == Steward::Action::"invoke_tool",
  resource
) when { context.environment == "sandbox" };

@id("refunds-need-approval") @approval("security")
permit(principal, action == Steward::Action::"invoke_tool", resource == Steward::Tool::"crm/refund")
when { context has task };

@id("no-sensitive")
forbid(principal, action == Steward::Action::"invoke_tool", resource)
when { resource.sensitive && !(context has task) };
`;

const REFUND = {
  type: 'Tool',
  id: 'crm/refund',
  attrs: { name: 'refund', upstream: 'crm', sensitive: true },
  parents: [{ type: 'Upstream', id: 'crm' }],
};

interface Decision {
  decision: string;
  policies: string[];
  errors: { policyId: string; message: string }[];
  explanation: { kind: string; forbiddenBy?: string[]; scopeMatchedPermits: string[] };
  annotations: Record<string, Record<string, string>>;
  policyVersion: number;
  timeMicros: number;
}

for (const database of await testDatabases()) {
  describe(`policies on ${database.name}`, () => {
    let t: TestApp;
    let workload: string;
    let otherWorkload: string;
    before(async () => {
      t = await startTestApp(database);
      await ensureTeam(t, OTHER_TEAM);
      workload = await createWorkload(t);
      otherWorkload = await createWorkload(t, 'other-agent', OTHER_TEAM);
    });
    after(async () => t.close());

    const authorize = (
      body: Record<string, unknown>,
      as: 'admin' | 'owner' | 'security' = 'security',
    ) => t.call(as, { method: 'POST', url: '/v1/authorize', payload: body });
    const decide = async (body: Record<string, unknown>): Promise<Decision> => {
      const response = await authorize(body);
      assert.equal(response.statusCode, 200, response.body);
      return response.json<Decision>();
    };

    it('starts at version 0 with no policies, and denies everything (not permitted)', async () => {
      const current = await api<{ version: number; policies: unknown[] }>(
        t,
        'auditor',
        'GET',
        '/v1/policies',
      );
      assert.equal(current.version, 0);
      assert.deepEqual(current.policies, []);
      const answer = await decide({
        principal: { identity: workload },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
      });
      assert.equal(answer.decision, 'deny');
      assert.equal(answer.explanation.kind, 'not_permitted');
      assert.equal(answer.policyVersion, 0);
    });

    it('writes versions, lists them, diffs one against the previous, and records each write', async () => {
      const first = await api<{ version: number; policyCount: number }>(
        t,
        'security',
        'PUT',
        '/v1/policies',
        {
          policies: POLICIES,
          message: 'first set',
        },
      );
      assert.equal(first.version, 1);
      assert.equal(first.policyCount, 3);
      const edited = POLICIES.replace('"sandbox"', '"pilot"');
      const second = await api<{ version: number }>(t, 'admin', 'PUT', '/v1/policies', {
        policies: edited,
        message: 'pilot only',
      });
      assert.equal(second.version, 2);
      const list = await api<{ items: { version: number; message: string }[] }>(
        t,
        'auditor',
        'GET',
        '/v1/policy/versions',
      );
      assert.deepEqual(
        list.items.map((v) => v.version),
        [2, 1],
      );
      const detail = await api<{ previous: number; diff: string; policies: { id: string }[] }>(
        t,
        'auditor',
        'GET',
        '/v1/policy/versions/2',
      );
      assert.equal(detail.previous, 1);
      assert.match(detail.diff, /^-\) when \{ context\.environment == "sandbox" \};$/m);
      assert.match(detail.diff, /^\+\) when \{ context\.environment == "pilot" \};$/m);
      assert.deepEqual(
        detail.policies.map((p) => p.id),
        ['sandbox-tools', 'refunds-need-approval', 'no-sensitive'],
      );
      const events = await api<{ items: { type: string; target: { id: string } }[] }>(
        t,
        'auditor',
        'GET',
        '/v1/audit?type=policy.&limit=10',
      );
      assert.deepEqual(
        events.items.map((e) => [e.type, e.target.id]),
        [
          ['policy.updated', '2'],
          ['policy.updated', '1'],
        ],
      );
    });

    it('rolls back by writing the old text as a new version', async () => {
      const rolled = await api<{ version: number; rolledBackFrom: number }>(
        t,
        'security',
        'POST',
        '/v1/policy/rollback',
        {
          version: 1,
          message: 'pilot was too early',
        },
      );
      assert.deepEqual([rolled.version, rolled.rolledBackFrom], [3, 1]);
      const current = await api<{ text: string; version: number }>(
        t,
        'admin',
        'GET',
        '/v1/policies',
      );
      assert.equal(current.text, POLICIES);
      assertProblem(
        await t.call('security', {
          method: 'POST',
          url: '/v1/policy/rollback',
          payload: { version: 99, message: 'x' },
        }),
        'rollback to a missing version',
        { status: 404, code: 'not_found' },
      );
    });

    it('refuses invalid policies with line and column, and stores nothing', async () => {
      const cases: [string, string, number, number][] = [
        ['syntax', 'permit(principal, action, resource)\nwhen { 1 + };', 2, 12],
        [
          'unknown attribute',
          'permit(principal, action == Steward::Action::"invoke_tool", resource)\n  when { context.nope == 1 };',
          2,
          10,
        ],
        [
          'unknown entity type',
          'permit(principal == Steward::Robot::"r2", action, resource);',
          1,
          21,
        ],
        [
          'duplicate id',
          '@id("a") permit(principal, action, resource);\n@id("a") forbid(principal, action, resource);',
          2,
          1,
        ],
      ];
      for (const [label, policies, line, column] of cases) {
        const before = await dumpDatabase(t);
        const response = await t.call('security', {
          method: 'PUT',
          url: '/v1/policies',
          payload: { policies, message: label },
        });
        assertProblem(response, label, { status: 400, code: 'policy_invalid' });
        const problem = response.json<{
          errors: { line: number; column: number; pointer: string; detail: string }[];
        }>();
        assert.equal(problem.errors[0]?.pointer, '/body/policies', label);
        assert.deepEqual(
          [problem.errors[0]?.line, problem.errors[0]?.column],
          [line, column],
          `${label}: ${problem.errors[0]?.detail}`,
        );
        assert.equal(await dumpDatabase(t), before, `${label} stored something`);
      }
    });

    it('refuses policy sets over the limits and deep nesting before Cedar sees them', async () => {
      const deep = `permit(principal, action, resource) when { ${'('.repeat(2000)}true${')'.repeat(2000)} };`;
      const long = `permit(principal, action, resource) when { ${Array(2000).fill('1').join(' + ')} == 2 };`;
      const many = 'forbid(principal, action, resource);\n'.repeat(POLICY_LIMITS.maxPolicies + 1);
      for (const [label, policies, status, code] of [
        ['deep nesting', deep, 400, 'policy_invalid'],
        ['long chain', long, 400, 'policy_invalid'],
        ['too many policies', many, 413, 'policy_set_too_large'],
      ] as const) {
        const before = await dumpDatabase(t);
        const response = await t.call('security', {
          method: 'PUT',
          url: '/v1/policies',
          payload: { policies, message: label },
        });
        assertProblem(response, label, { status, code });
        assert.equal(await dumpDatabase(t), before);
      }
      // The engine still answers afterwards: nothing reached the Wasm stack.
      assert.equal(
        (
          await decide({
            principal: { identity: workload },
            action: 'invoke_tool',
            resource: FIXTURE_TOOL,
          })
        ).decision,
        'allow',
      );
    });

    it('lets only security and admin write; owners see the policies that name their team', async () => {
      for (const role of ['owner', 'auditor', 'approver'] as const) {
        assertProblem(
          await t.call(role, {
            method: 'PUT',
            url: '/v1/policies',
            payload: { policies: POLICIES, message: 'x' },
          }),
          role,
          { status: 403, code: 'forbidden' },
        );
      }
      const owner = await api<{ filtered: boolean; policies: { id: string }[] }>(
        t,
        'owner',
        'GET',
        '/v1/policies',
      );
      assert.equal(owner.filtered, true);
      assert.deepEqual(
        owner.policies.map((p) => p.id),
        ['sandbox-tools'],
      );
    });

    it('allows, forbids or does not permit, and says why', async () => {
      const allowed = await decide({
        principal: { identity: workload },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
      });
      assert.equal(allowed.decision, 'allow');
      assert.deepEqual(allowed.policies, ['sandbox-tools']);
      assert.deepEqual(allowed.explanation, { kind: 'allowed', scopeMatchedPermits: [] });

      const forbidden = await decide({
        principal: { identity: workload },
        action: 'invoke_tool',
        resource: REFUND,
      });
      assert.equal(forbidden.decision, 'deny');
      assert.deepEqual(forbidden.policies, ['no-sensitive']);
      assert.equal(forbidden.explanation.kind, 'forbidden');
      assert.deepEqual(forbidden.explanation.forbiddenBy, ['no-sensitive']);
      // The refunds permit's scope matched; its condition (a task) did not hold.
      assert.deepEqual(forbidden.explanation.scopeMatchedPermits, ['refunds-need-approval']);

      const notPermitted = await decide({
        principal: { identity: otherWorkload },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
      });
      assert.equal(notPermitted.decision, 'deny');
      assert.deepEqual(notPermitted.policies, []);
      assert.deepEqual(notPermitted.explanation, {
        kind: 'not_permitted',
        scopeMatchedPermits: [],
      });
      assert.ok(Number.isInteger(notPermitted.timeMicros));
    });

    it('records each of many concurrent decisions (one group commit) once, with its answer', async () => {
      const count = 40;
      const answers = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          authorize({
            principal: { identity: i % 2 === 0 ? workload : otherWorkload },
            action: 'invoke_tool',
            resource: i % 3 === 0 ? REFUND : FIXTURE_TOOL,
          }),
        ),
      );
      const decided = answers.map((response) => {
        assert.equal(response.statusCode, 200, response.body);
        return response.json<Decision & { id: string }>();
      });
      const events = await api<{
        items: { type: string; target: { id: string }; after: { decision: string } }[];
      }>(t, 'auditor', 'GET', `/v1/audit?type=decision.&limit=${count}`);
      const recorded = new Map(events.items.map((e) => [e.target.id, e]));
      assert.equal(recorded.size, count, 'one record per decision, none twice');
      for (const answer of decided) {
        const event = recorded.get(answer.id);
        assert.ok(event, `decision ${answer.id} was answered but not recorded`);
        assert.equal(event.type, `decision.${answer.decision}`);
        assert.equal(event.after.decision, answer.decision);
      }
    });

    it('decides by token, takes the task from it, and returns the annotations of determining policies', async () => {
      const task = await t.core.tasks.open(system, { identity: workload, deadlineSeconds: 600 });
      const token = await attest(t, workload, { task: task.id });
      const answer = await decide({
        principal: { token },
        action: 'invoke_tool',
        resource: REFUND,
      });
      assert.equal(answer.decision, 'allow');
      assert.deepEqual(answer.policies.sort(), ['refunds-need-approval', 'sandbox-tools']);
      assert.deepEqual(answer.annotations, {
        'refunds-need-approval': { approval: 'security' },
      });
      assertProblem(
        await authorize({
          principal: { token },
          action: 'invoke_tool',
          resource: REFUND,
          context: { task: 'forged' },
        }),
        'task in the context with a token',
        { status: 400, code: 'policy_request_invalid' },
      );
      const events = await api<{
        items: {
          type: string;
          after: { context: { task?: string }; via: string; policyVersion: number };
        }[];
      }>(t, 'auditor', 'GET', `/v1/audit?type=decision.&identity=${workload}&limit=1`);
      assert.equal(events.items[0]?.type, 'decision.allow');
      assert.equal(events.items[0]?.after.context.task, task.id);
      assert.equal(events.items[0]?.after.via, 'token');
    });

    it('refuses a revoked or forged token clearly, and never allows', async () => {
      const token = await attest(t, workload);
      await api(
        t,
        'security',
        'POST',
        '/v1/revocations',
        { kind: 'identity', identity: workload, reason: 'incident' },
        201,
      );
      const revoked = await authorize({
        principal: { token },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
      });
      assertProblem(revoked, 'revoked token', { status: 400, code: 'principal_invalid' });
      assert.match(revoked.json<{ detail: string }>().detail, /token_revoked/);
      const forged = await authorize({
        principal: { token: `${token.slice(0, -4)}AAAA` },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
      });
      assertProblem(forged, 'forged token', { status: 400, code: 'principal_invalid' });
    });

    it('refuses malformed requests as errors, never decisions', async () => {
      const base = {
        principal: { identity: otherWorkload },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
      };
      const cases: [string, Record<string, unknown>, string][] = [
        ['unknown action', { ...base, action: 'delete_everything' }, '/body/action'],
        [
          'wrong resource type',
          {
            ...base,
            resource: {
              type: 'Dataset',
              id: 'x',
              attrs: { name: 'x', classification: 'c', team: 't' },
            },
          },
          '/body/resource/type',
        ],
        [
          'unknown resource without attributes',
          { ...base, resource: { type: 'Tool', id: 'crm/x' } },
          '/body/resource',
        ],
        [
          'resource missing an attribute',
          {
            ...base,
            resource: { type: 'Tool', id: 'crm/x', attrs: { name: 'x', upstream: 'crm' } },
          },
          '/body/resource/attrs',
        ],
        [
          'unknown context attribute',
          { ...base, context: { colour: 'red' } },
          '/body/context/colour',
        ],
        ['context of the wrong type', { ...base, context: { method: 5 } }, '/body/context/method'],
        [
          'bad address',
          { ...base, context: { clientAddress: 'not-an-ip' } },
          '/body/context/clientAddress',
        ],
        [
          'an address in a spelling left to the official parser',
          { ...base, context: { clientAddress: { fn: 'ip', arg: 'not-an-ip' } } },
          '/body/context',
        ],
        [
          'resource in a parent of the wrong type',
          {
            ...base,
            resource: {
              type: 'Tool',
              id: 'crm/x',
              attrs: { name: 'x', upstream: 'crm', sensitive: false },
              parents: [{ type: 'Service', id: 'crm' }],
            },
          },
          '/body/resource/parents/0/type',
        ],
        ['a null', { ...base, context: { task: null } }, '/body/context/task'],
        [
          'environment from the caller',
          { ...base, context: { environment: 'production' } },
          '/body/context/environment',
        ],
      ];
      for (const [label, body, pointer] of cases) {
        const before = await dumpDatabase(t);
        const response = await authorize(body);
        assertProblem(response, label, { status: 400, code: 'policy_request_invalid' });
        assert.equal(
          response.json<{ errors: { pointer: string }[] }>().errors[0]?.pointer,
          pointer,
          label,
        );
        assert.equal(await dumpDatabase(t), before, `${label} was recorded`);
      }
      assertProblem(
        await authorize({
          ...base,
          principal: { identity: '0190f2a4-0000-7000-8000-000000000000' },
        }),
        'unknown identity',
        { status: 404, code: 'not_found' },
      );
      assertProblem(await authorize(base, 'owner'), 'owner asking about another team', {
        status: 403,
        code: 'forbidden',
      });
    });

    it('simulates a draft against recorded decisions and reports what would change', async () => {
      await api(t, 'security', 'PUT', '/v1/policies', { policies: POLICIES, message: 'again' });
      await decide({
        principal: { identity: otherWorkload },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
      });
      const draft = POLICIES.replace(
        `Steward::Team::"${OWNER_TEAM}"`,
        `Steward::Team::"${OTHER_TEAM}"`,
      );
      const report = await api<{
        evaluated: number;
        changed: number;
        changes: {
          principal: { id: string };
          before: { decision: string };
          after: { decision: string; policies: string[] };
        }[];
      }>(
        t,
        'auditor',
        'POST',
        '/v1/policy/simulate',
        { policies: draft, since: '2025-01-01T00:00:00Z' },
        200,
      );
      assert.ok(report.evaluated >= 3);
      assert.ok(report.changed >= 2);
      const forOther = report.changes.find((c) => c.principal.id === otherWorkload);
      assert.deepEqual(
        [forOther?.before.decision, forOther?.after.decision, forOther?.after.policies],
        ['deny', 'allow', ['sandbox-tools']],
      );
      assert.ok(
        report.changes.some((c) => c.principal.id === workload && c.after.decision === 'deny'),
      );
      // Under the current set only the decisions made before any policy existed would change.
      const unchanged = await api<{ changes: { before: { policyVersion: number } }[] }>(
        t,
        'auditor',
        'POST',
        '/v1/policy/simulate',
        { policies: POLICIES },
        200,
      );
      assert.ok(unchanged.changes.every((c) => c.before.policyVersion === 0));
      assertProblem(
        await t.call('auditor', {
          method: 'POST',
          url: '/v1/policy/simulate',
          payload: { policies: 'permit(' },
        }),
        'invalid draft',
        { status: 400, code: 'policy_invalid' },
      );
    });

    it('reports breadth findings mapped to OWASP NHI and NIST CSF', async () => {
      await api(t, 'security', 'PUT', '/v1/policies', {
        policies: '@id("wide") permit(principal, action, resource);\n' + POLICIES,
        message: 'too wide',
      });
      const { findings } = await api<{
        findings: {
          id: string;
          severity: string;
          mapping: { owaspNhi: string[]; nistCsf: string[] };
        }[];
      }>(t, 'auditor', 'GET', '/v1/policy/findings');
      const ids = findings.map((f) => f.id);
      assert.ok(ids.includes('policy.unconstrained_principal:wide'));
      assert.ok(ids.includes('policy.unconstrained_resource:wide'));
      assert.ok(ids.includes('policy.every_action:wide'));
      assert.ok(ids.includes('policy.unconstrained_principal:refunds-need-approval'));
      assert.ok(
        !ids.some((id) => id.endsWith(':no-sensitive')),
        'forbids are never breadth findings',
      );
      assert.equal(findings.find((f) => f.id === 'policy.every_action:wide')?.severity, 'high');
      assert.match(findings[0]?.mapping.owaspNhi[0] ?? '', /^NHI5/);
      assert.deepEqual(findings[0]?.mapping.nistCsf, ['PR.AA-05']);
    });

    it('serves the schema as JSON and as Cedar text; registry entities conform to it', async () => {
      const json = await api<{ text: string; actions: Record<string, string> }>(
        t,
        'approver',
        'GET',
        '/v1/policy/schema',
      );
      assert.equal(json.text, SCHEMA_TEXT);
      assert.equal(json.actions['invoke_tool'], 'Tool');
      const text = await t.call('owner', { method: 'GET', url: '/v1/policy/schema?format=cedar' });
      assert.match(String(text.headers['content-type']), /^text\/plain/);
      assert.equal(text.body, SCHEMA_TEXT);
      const entities = await registrySource.load(t.store.db);
      assert.ok(entities.length >= 5);
      const checked = cedar.checkParseEntities({
        entities: entities as cedar.EntityJson[],
        schema: SCHEMA_TEXT,
      });
      assert.equal(checked.type, 'success', JSON.stringify(checked));
    });

    it('another replica picks up a new version from the notification or its poll', async () => {
      const written = await api<{ version: number }>(t, 'security', 'PUT', '/v1/policies', {
        policies: POLICIES,
        message: 'replica',
      });
      const { createPolicyService } = await import('../../../src/policy/index.js');
      const replica = createPolicyService({
        store: t.store,
        clock: t.clock,
        verifier: t.core.verifier,
        // This replica only reads: it has nothing to announce.
        onAnnounceFailed: (channel) => assert.fail(`announced on ${channel}`),
      });
      await replica.reload();
      assert.equal((await replica.findings()).version, written.version);
    });
  });
}
