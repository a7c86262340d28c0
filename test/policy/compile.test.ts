/**
 * Compiling a policy set: ids and positions in the order of the text, positions in characters,
 * and (issue 9, item 2) time linear in the text's length. Each policy's line and column were
 * counted from the start of the text, so 2,000 policies on one line (the limit is 256 Ki
 * characters) took many seconds of CPU on every validate, put and simulate; one compile of 2,000
 * policies is now measured against sixteen compiles of 125.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StewardError } from '../../src/errors/index.js';
import { compilePolicies, POLICY_LIMITS } from '../../src/policy/index.js';
import { assertLinearCost } from './cost.js';

const PIECES = 16;
const PER_PIECE = 125;

function policies(count: number, from: number, separator: string): string {
  return Array.from(
    { length: count },
    (_, i) =>
      `@id("p${from + i}") permit(principal in Steward::Team::"team-${from + i}", action, resource);`,
  ).join(separator);
}

describe('compiling a policy set', () => {
  for (const [layout, separator] of [
    ['one policy a line', '\n'],
    ['all on one line', ' '],
  ] as const) {
    it(`costs time linear in its length (${PIECES * PER_PIECE} policies, ${layout})`, async (t) => {
      const whole = policies(PIECES * PER_PIECE, 0, separator);
      assert.ok(whole.length <= POLICY_LIMITS.maxTextLength);
      const pieces = Array.from({ length: PIECES }, (_, k) =>
        policies(PER_PIECE, k * PER_PIECE, separator),
      );
      const last = compilePolicies(whole).policies.at(-1);
      assert.equal(last?.id, `p${PIECES * PER_PIECE - 1}`);
      assert.equal(last?.line, separator === '\n' ? PIECES * PER_PIECE : 1);
      t.diagnostic(
        await assertLinearCost({
          what: `one set of ${PIECES * PER_PIECE} policies against ${PIECES} of ${PER_PIECE}`,
          smallBatch: () => {
            for (const piece of pieces) compilePolicies(piece);
          },
          large: () => compilePolicies(whole),
          slack: 4,
        }),
      );
    });
  }

  const refusal = (text: string) => {
    try {
      compilePolicies(text);
    } catch (error) {
      assert.ok(error instanceof StewardError);
      assert.equal(error.code, 'policy_invalid');
      return error.errors;
    }
    return assert.fail('the set was accepted');
  };

  it('names policies without @id policy0, policy1… in the order of the text, past ten', () => {
    const text = Array.from(
      { length: 12 },
      (_, i) => `permit(principal, action, resource) when { context has n${i} || true };`,
    ).join('\n');
    const draft = compilePolicies(text);
    assert.deepEqual(
      draft.policies.map((p) => [p.id, p.line, /n\d+/.exec(p.text)?.[0]]),
      Array.from({ length: 12 }, (_, i) => [`policy${i}`, i + 1, `n${i}`]),
    );
  });

  it('names the policy at fault in a validation error, past ten', () => {
    const lines = Array.from(
      { length: 12 },
      (_, i) => `@id("p${i}") permit(principal, action, resource);`,
    );
    lines[2] = '@id("p2") permit(principal, action, resource) when { context.nope == 1 };';
    const errors = refusal(lines.join('\n'));
    assert.ok(errors.length > 0);
    for (const e of errors) {
      assert.equal(e.policyId, 'p2');
      assert.equal(e.line, 3);
    }
  });

  it('locates problems in characters after non-ASCII text (Cedar counts bytes)', () => {
    const [error] = refusal(
      '// é, 🙂 and ü\n@id("π") permit(principal, action, resource) when { x };',
    );
    assert.equal(error?.line, 2);
    assert.equal(error?.column, '@id("π") permit(principal, action, resource) when { '.length + 1);
    const [twice] = refusal(
      '@id("é") permit(principal, action, resource);\n@id("é") forbid(principal, action, resource);',
    );
    assert.equal(twice?.line, 2);
    assert.equal(twice?.column, 1);
  });

  it('refuses a lone UTF-16 surrogate at its line and column, in a comment, a string or an id', () => {
    for (const [text, line, column] of [
      ['permit(principal, action, resource);\n// \ud800', 2, 4],
      ['🙂 \udc00', 1, 3],
      ['@id("\udbff") permit(principal, action, resource);', 1, 6],
      ['permit(principal, action, resource) when { context.path == "\ud83d" };', 1, 61],
    ] as const) {
      const errors = refusal(text);
      assert.equal(errors.length, 1);
      assert.deepEqual([errors[0]?.line, errors[0]?.column], [line, column], text);
      assert.match(errors[0]?.detail ?? '', /lone UTF-16 surrogate \(\\ud[89a-f][0-9a-f]{2}\)/);
    }
  });
});
