/**
 * Replays every disagreement the differential test ever found (`regressions/*.json`): the engine
 * under test must now agree with the official engine, and the official engine must still give
 * the answer recorded when the case was found.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fastEngine,
  referenceEngine,
  type PolicyEngine,
} from '../../../src/policy/engine/index.js';
import { authorizeOutcome, describeOutcome, sameOutcome } from './outcome.js';
import { loadRegressions, type RegressionCase } from './regression-case.js';

/** The engine under test. */
const ENGINE: PolicyEngine = fastEngine;
const ORACLE: PolicyEngine = referenceEngine;

function answer(engine: PolicyEngine, regression: RegressionCase) {
  const prepared = engine.prepare(regression.policies);
  try {
    return authorizeOutcome(
      prepared,
      regression.request,
      engine.prepareEntities(regression.entities),
    );
  } finally {
    prepared.release();
  }
}

describe(`regressions found by the differential test, on the ${ENGINE.name} engine`, () => {
  const regressions = loadRegressions();
  if (regressions.length === 0) {
    it('has no regression cases yet');
  }
  for (const { file, regression } of regressions) {
    it(`agrees with the official engine on ${file}`, () => {
      const expected = answer(ORACLE, regression);
      assert.ok(
        sameOutcome(expected, regression.expected),
        `the official engine now answers ${describeOutcome(expected)}, recorded ${describeOutcome(regression.expected)}`,
      );
      const actual = answer(ENGINE, regression);
      assert.ok(
        sameOutcome(expected, actual),
        `official ${describeOutcome(expected)}, ${ENGINE.name} ${describeOutcome(actual)}`,
      );
    });
  }
});
