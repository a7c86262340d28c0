/**
 * Issue 9, item 2, on the whole decision path the gateway takes (`policies.decideGatewayCall`):
 * the request built from the call (arguments to `{name, value}` pairs, every string checked), the
 * decision, its explanation and the record the gateway writes, on both databases. One call with
 * 40,000 arguments, denied, is measured against 160 calls with 250 (the same amount of data), in
 * CPU time; see `../cost.ts`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SYSTEM_ACTOR } from '../../../src/actors/index.js';
import { uid, type Entity } from '../../../src/policy/index.js';
import { OWNER_TEAM, startTestApp, type TestApp } from '../../support/app.js';
import { testDatabases } from '../../support/databases.js';
import { assertLinearCost } from '../cost.js';
import { createWorkload } from './fixtures.js';

const system = { actor: SYSTEM_ACTOR };
const SMALL = 250;
const LARGE = 40_000;

const POLICIES = `@id("sandbox-tools")
permit(principal in Steward::Team::"${OWNER_TEAM}", action == Steward::Action::"invoke_tool", resource)
when { context.environment == "sandbox" };

@id("no-argument-2")
forbid(principal, action == Steward::Action::"invoke_tool", resource)
when { context has arguments && context.arguments.contains({name: "argument-2", value: "value 2"}) };
`;

/** The upstream and tool entities the gateway describes on a call. */
const ENTITIES: Entity[] = [
  {
    uid: uid('Tool', 'crm/refund'),
    attrs: { name: 'refund', upstream: 'crm', sensitive: true },
    parents: [uid('Upstream', 'crm')],
  },
  {
    uid: uid('Upstream', 'crm'),
    attrs: { name: 'crm', kind: 'mcp', classification: 'internal', team: OWNER_TEAM },
    parents: [uid('Team', OWNER_TEAM)],
  },
];

function toolArguments(n: number): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) args[`argument-${i}`] = i % 2 === 0 ? `value ${i}` : { n: i };
  return args;
}

for (const database of await testDatabases()) {
  describe(`a gateway decision on ${database.name}`, () => {
    let t: TestApp;
    let workload: string;
    before(async () => {
      t = await startTestApp(database);
      workload = await createWorkload(t);
      await t.core.policies.put(system, { policies: POLICIES, message: 'decision time' });
    });
    after(async () => t.close());

    const decideCall = async (args: Record<string, unknown>): Promise<string> => {
      const decided = await t.core.policies.decideGatewayCall({
        identityId: workload,
        action: 'invoke_tool',
        resource: { type: 'Tool', id: 'crm/refund' },
        context: { arguments: args },
        entities: ENTITIES,
      });
      // What the gateway then writes durably.
      assert.ok(JSON.stringify(decided.record).length > 0);
      return `${decided.decision} by ${decided.policies.join(',')}`;
    };

    it('costs time linear in the number of arguments, denied by a forbid', async (t) => {
      const small = toolArguments(SMALL);
      const large = toolArguments(LARGE);
      assert.equal(await decideCall(small), 'deny by no-argument-2');
      t.diagnostic(
        await assertLinearCost({
          what: `one call with ${LARGE} arguments against ${LARGE / SMALL} with ${SMALL}`,
          smallBatch: async () => {
            for (let i = 0; i < LARGE / SMALL; i++) await decideCall(small);
          },
          large: async () => assert.equal(await decideCall(large), 'deny by no-argument-2'),
          slack: 25,
        }),
      );
    });
  });
}
