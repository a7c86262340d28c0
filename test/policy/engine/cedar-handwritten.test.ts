/**
 * Cedar's own handwritten integration tests (cedar-integration-tests, Apache-2.0), read at test
 * time from the shared checkout beside the repository (`../shared/reference/…`), never copied
 * here; without it the suite is one skipped test saying why (a failure under CI=true). The loader (shared with the conformance suite) applies the tests' schemas the way Cedar's
 * harness does. Each expected decision, reason set and erroring set must come out of the fast
 * evaluator, every policy compiled (no fallback).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fastEngine } from '../../../src/policy/engine/index.js';
import {
  INTEGRATION_TESTS_DIR,
  integrationTestsSkip,
  loadHandwrittenTests,
  requireIntegrationTests,
} from '../conformance/cedar-tests.js';

describe('Cedar handwritten integration tests on the fast evaluator', () => {
  if (!existsSync(INTEGRATION_TESTS_DIR)) {
    // One test that says why it is skipped (and fails under CI=true), rather than none at all.
    it('every handwritten test as expected', { skip: integrationTestsSkip() }, () =>
      requireIntegrationTests(),
    );
    return;
  }
  for (const test of loadHandwrittenTests()) {
    it(`${test.name}: every request as expected, every policy compiled`, () => {
      const set = fastEngine.prepare(test.policies);
      const entities = fastEngine.prepareEntities(test.entities);
      for (const r of test.requests) {
        if (r.unrepresentable !== undefined) continue;
        const d = set.authorize(r.request, entities);
        assert.deepEqual(
          {
            decision: d.decision,
            reasons: [...d.reasons].sort(),
            errored: d.errors.map((e) => e.policyId).sort(),
          },
          { decision: r.decision, reasons: [...r.reasons].sort(), errored: [...r.errors].sort() },
          r.description,
        );
      }
      assert.deepEqual(set.coverage().fallbackReasons, {});
      assert.equal(set.stats().requestFallbacks, 0);
    });
  }
});
