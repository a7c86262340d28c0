/**
 * Issue 9, item 8: a lone UTF-16 surrogate (`"\ud800"` in JSON) is no character, and the official
 * Cedar engine cannot read one. In policy text (a comment, a string, an id or another annotation,
 * an entity id) validate, put and simulate answered 500; in a decision request (context strings
 * and names, the resource's id, attributes and parents) so did /v1/authorize. Each is now a 400
 * with a stable code, a position or a pointer, and a detail that names the problem, on both
 * databases; nothing is stored or recorded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, FIXTURE_TOOL } from '../../http/fixtures.js';
import { startTestApp, type TestApp } from '../../support/app.js';
import { testDatabases } from '../../support/databases.js';
import { createWorkload } from './fixtures.js';

const LONE = '\ud800';
const PERMIT = 'permit(principal, action, resource);';

/** Policy texts with a lone surrogate, and where it is (line, column in characters). */
const TEXTS: readonly (readonly [string, string, number, number])[] = [
  ['a comment', `${PERMIT}\n// note ${LONE}`, 2, 9],
  [
    'a string',
    `permit(principal, action, resource) when { context has path && context.path == "${LONE}" };`,
    1,
    81,
  ],
  ['an @id', `@id("refunds-${LONE}") ${PERMIT}`, 1, 14],
  ['another annotation', `@approval("${LONE}") ${PERMIT}`, 1, 12],
  ['an entity id', `permit(principal in Steward::Team::"${LONE}", action, resource);`, 1, 37],
  ['a low half after an emoji', `🙂\udc00 ${PERMIT}`, 1, 2],
];

interface Problem {
  code: string;
  detail: string;
  errors: { pointer: string; detail: string; line?: number; column?: number }[];
}

for (const database of await testDatabases()) {
  describe(`a lone UTF-16 surrogate on ${database.name}`, () => {
    let t: TestApp;
    let workload: string;
    before(async () => {
      t = await startTestApp(database);
      workload = await createWorkload(t);
    });
    after(async () => t.close());

    /** Sends `body` as JSON text, where JSON.stringify writes a lone surrogate as `\ud800`. */
    const send = (method: 'POST' | 'PUT', url: string, body: unknown) =>
      t.call('admin', {
        method,
        url,
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });

    for (const [where, text, line, column] of TEXTS) {
      it(`in ${where} of policy text: 400 policy_invalid at its line and column (validate, put, simulate)`, async () => {
        for (const [method, url, body] of [
          ['POST', '/v1/policy/validate', { policies: text }],
          ['PUT', '/v1/policies', { policies: text, message: 'with a lone surrogate' }],
          ['POST', '/v1/policy/simulate', { policies: text }],
        ] as const) {
          const response = await send(method, url, body);
          assertProblem(response, `${method} ${url}`, { status: 400, code: 'policy_invalid' });
          const problem = response.json<Problem>();
          assert.equal(problem.errors.length, 1);
          assert.equal(problem.errors[0]?.pointer, '/body/policies');
          assert.deepEqual(
            [problem.errors[0]?.line, problem.errors[0]?.column],
            [line, column],
            `${method} ${url}`,
          );
          assert.match(problem.detail, /lone UTF-16 surrogate \(\\ud[89a-f][0-9a-f]{2}\)/);
        }
        const current = await t.call('admin', { method: 'GET', url: '/v1/policies' });
        assert.equal(current.json<{ version: number }>().version, 0, 'nothing was stored');
      });
    }

    it('in a decision request: 400 policy_request_invalid pointing at it, nothing recorded', async () => {
      const request = {
        principal: { identity: workload },
        action: 'invoke_tool',
        resource: FIXTURE_TOOL,
      };
      const cases: [unknown, string][] = [
        [{ ...request, context: { path: `/refunds/${LONE}` } }, '/body/context/path'],
        [
          { ...request, context: { arguments: { amount: LONE } } },
          '/body/context/arguments/amount',
        ],
        [
          { ...request, context: { arguments: { [`am${LONE}`]: 1 } } },
          '/body/context/arguments/am\\ud800',
        ],
        [
          { ...request, context: { arguments: { items: [{ sku: 'a' }, { sku: LONE }] } } },
          '/body/context/arguments/items/1/sku',
        ],
        [{ ...request, resource: { ...FIXTURE_TOOL, id: `crm/${LONE}` } }, '/body/resource/id'],
        [
          {
            ...request,
            resource: { ...FIXTURE_TOOL, attrs: { ...FIXTURE_TOOL.attrs, name: LONE } },
          },
          '/body/resource/attrs/name',
        ],
        [
          { ...request, resource: { ...FIXTURE_TOOL, parents: [{ type: 'Upstream', id: LONE }] } },
          '/body/resource/parents/0/id',
        ],
      ];
      const recorded = async () =>
        (
          await t.store.db
            .selectFrom('audit_events')
            .select('id')
            .where('target_kind', '=', 'decision')
            .execute()
        ).length;
      const before = await recorded();
      for (const [body, pointer] of cases) {
        const response = await send('POST', '/v1/authorize', body);
        assertProblem(response, pointer, { status: 400, code: 'policy_request_invalid' });
        const problem = response.json<Problem>();
        assert.equal(problem.errors[0]?.pointer, pointer);
        assert.match(problem.detail, /lone UTF-16 surrogate/);
      }
      assert.equal(await recorded(), before, 'no decision was recorded');
      // The same requests without the surrogate are decided.
      const fine = await send('POST', '/v1/authorize', {
        ...request,
        context: { path: '/refunds/🙂', arguments: { amount: '🙂' } },
      });
      assert.equal(fine.statusCode, 200, fine.body);
    });
  });
}
