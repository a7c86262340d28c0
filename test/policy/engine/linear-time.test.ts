/**
 * Issue 9, item 2 (the engine's side): the fast evaluator's cost grows linearly with the data of a
 * request. A tool call's arguments become a Cedar set of `{name, value}` records; building that
 * set compared each record with every earlier one, so 40,000 arguments (about 0.5 MB) blocked the
 * event loop for tens of seconds, even when the call was denied.
 *
 * Each case measures one decision over 40,000 entries against 160 decisions over 250 entries
 * (the same amount of data) measured in the same test, in CPU time of this process, so that a
 * loaded machine slows both alike. Linear code spends a few times more on the large one (its
 * garbage lives longer) and may spend up to 25 times more; a quadratic cost is 160 times more.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fastEngine,
  type AuthorizationRequest,
  type CedarJson,
  type PolicySource,
} from '../../../src/policy/engine/index.js';
import { contextValue } from '../../../src/policy/index.js';
import { assertLinearCost } from '../cost.js';

const SMALL = 250;
const LARGE = 40_000;
const SLACK = 25;

const REQUEST: Omit<AuthorizationRequest, 'context'> = {
  principal: { type: 'Steward::Workload', id: 'w1' },
  action: { type: 'Steward::Action', id: 'invoke_tool' },
  resource: { type: 'Steward::Tool', id: 'crm/refund' },
};

/**
 * Asserts that one decision over `make(LARGE)` costs at most SLACK times as much as LARGE/SMALL
 * decisions over `make(SMALL)`, and that both decide `expected` on the fast path (no fallback
 * to the official engine).
 */
async function assertLinear(
  policies: PolicySource,
  make: (n: number) => Record<string, CedarJson>,
  expected: 'allow' | 'deny',
): Promise<string> {
  const set = fastEngine.prepare(policies);
  const entities = fastEngine.prepareEntities([]);
  const decide = (context: Record<string, CedarJson>): string =>
    set.authorize({ ...REQUEST, context }, entities).decision;
  try {
    const small = make(SMALL);
    const large = make(LARGE);
    assert.equal(decide(small), expected);
    const line = await assertLinearCost({
      what: `one decision over ${LARGE} entries against ${LARGE / SMALL} over ${SMALL}`,
      smallBatch: () => {
        for (let i = 0; i < LARGE / SMALL; i++) decide(small);
      },
      large: () => assert.equal(decide(large), expected),
      slack: SLACK,
    });
    assert.equal(set.stats().requestFallbacks, 0, 'decided by the fast evaluator itself');
    return line;
  } finally {
    set.release();
  }
}

/** A tool call's arguments as the gateway passes them: a JSON object, `n` distinct names. */
function toolArguments(n: number): Record<string, CedarJson> {
  const args: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) args[`argument-${i}`] = i % 2 === 0 ? `value ${i}` : { n: i };
  return { arguments: contextValue('arguments', args) };
}

/** Each case: what it is, its policies, its context for `n` entries, and the decision. */
const CASES: readonly {
  readonly name: string;
  readonly policies: PolicySource;
  readonly context: (n: number) => Record<string, CedarJson>;
  readonly expected: 'allow' | 'deny';
}[] = [
  {
    name: 'a tool call with 40,000 distinct arguments, denied by a forbid',
    policies: {
      permit: 'permit(principal, action, resource);',
      forbid:
        'forbid(principal, action, resource) when { context.arguments.contains({name: "argument-2", value: "value 2"}) };',
    },
    context: toolArguments,
    expected: 'deny',
  },
  {
    name: '40,000 near-duplicate records (same name, values differing at the end), half exact duplicates',
    policies: {
      permit:
        'permit(principal, action, resource) when { context.arguments.containsAll([{name: "amount", value: "0000000000000000000000000000000000000000-7"}]) };',
    },
    context: (n) => ({
      arguments: Array.from({ length: n }, (_, i) => ({
        name: 'amount',
        value: `${'0'.repeat(40)}-${Math.floor(i / 2)}`,
      })),
    }),
    expected: 'allow',
  },
  {
    name: '40,000 nested sets, in a different order inside each',
    policies: {
      permit:
        'permit(principal, action, resource) when { context.tags.contains(["b", "a", "tag-3"]) };',
    },
    context: (n) => ({ tags: Array.from({ length: n }, (_, i) => [`tag-${i}`, 'a', 'b']) }),
    expected: 'allow',
  },
  {
    name: 'equality and containsAll between two sets of 40,000 records, one reversed',
    policies: {
      permit:
        'permit(principal, action, resource) when { context.a == context.b && context.b.containsAll(context.a) && !context.a.containsAny(context.c) };',
    },
    context: (n) => {
      const a = Array.from({ length: n }, (_, i) => ({ name: `k${i}`, value: `v${i}` }));
      const c = Array.from({ length: n }, (_, i) => ({ name: `k${i}`, value: `w${i}` }));
      return { a, b: [...a].reverse(), c };
    },
    expected: 'allow',
  },
];

describe('the fast evaluator decides in time linear in the request data', () => {
  for (const { name, policies, context, expected } of CASES) {
    it(name, async (t) => {
      t.diagnostic(await assertLinear(policies, context, expected));
    });
  }
});
