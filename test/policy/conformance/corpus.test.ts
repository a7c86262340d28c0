/**
 * Cedar's own integration tests against the engine under test: every handwritten test and every
 * corpus test (about 7,800, one policy each), asserting the decision, the determining policies
 * and the erroring policies of every request. Issue 4, part 5.
 *
 * Requests whose data cannot be expressed in the engine contract (integers beyond ±2^53: the
 * contract and cedar-wasm's JS binding carry JSON numbers) are counted and reported, not run.
 * The tests are read from beside the checkout: without them both cases are skipped, and counted
 * as skipped, except under CI=true, where they fail.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fastEngine, type PolicyEngine } from '../../../src/policy/engine/index.js';
import {
  integrationTestsSkip,
  loadCorpusTests,
  loadHandwrittenTests,
  requireIntegrationTests,
  type CedarIntegrationTest,
} from './cedar-tests.js';
import {
  addCounts,
  authorizeOutcome,
  coverageOf,
  describeOutcome,
  sameOutcome,
  type Outcome,
} from './outcome.js';

/** The engine under test. */
const ENGINE: PolicyEngine = fastEngine;

const SHOWN_FAILURES = 20;

interface Tally {
  tests: number;
  requests: number;
  passed: number;
  unrepresentable: number;
  readonly failures: string[];
  readonly coverage: Record<string, number>;
}

function newTally(): Tally {
  return { tests: 0, requests: 0, passed: 0, unrepresentable: 0, failures: [], coverage: {} };
}

function runTest(test: CedarIntegrationTest, tally: Tally): void {
  tally.tests += 1;
  tally.requests += test.requests.length;
  if (test.unrepresentable !== undefined) {
    tally.unrepresentable += test.requests.length;
    return;
  }
  let prepared;
  try {
    prepared = ENGINE.prepare(test.policies);
  } catch (error) {
    tally.failures.push(`${test.name}: prepare threw ${String(error)}`);
    return;
  }
  try {
    addCounts(tally.coverage, coverageOf(prepared));
    const entities = ENGINE.prepareEntities(test.entities);
    for (const expected of test.requests) {
      if (expected.unrepresentable !== undefined) {
        tally.unrepresentable += 1;
        continue;
      }
      const wanted: Outcome = {
        decision: expected.decision,
        reasons: expected.reasons,
        errors: expected.errors,
      };
      const got = authorizeOutcome(prepared, expected.request, entities);
      if (sameOutcome(got, wanted)) {
        tally.passed += 1;
      } else {
        tally.failures.push(
          `${test.name} (${expected.description}): expected ${describeOutcome(wanted)}, ` +
            `got ${describeOutcome(got)}`,
        );
      }
    }
  } finally {
    prepared.release();
  }
}

function report(label: string, tally: Tally, started: number): string {
  const failed = tally.requests - tally.passed - tally.unrepresentable;
  const coverage = Object.entries(tally.coverage)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  return (
    `${label} on ${ENGINE.name}: ${tally.tests} tests, ${tally.requests} requests, ` +
    `${tally.passed} passed, ${failed} failed, ${tally.unrepresentable} not representable` +
    `${coverage ? `; policies ${coverage}` : ''}; ${Date.now() - started} ms`
  );
}

function assertNoFailures(tally: Tally): void {
  assert.equal(
    tally.failures.length,
    0,
    `${tally.failures.length} failing requests:\n${tally.failures.slice(0, SHOWN_FAILURES).join('\n')}`,
  );
}

describe(`Cedar integration tests on the ${ENGINE.name} engine`, () => {
  // Optional data beside the checkout: skipped (and counted) without it, mandatory under CI=true.
  const skip = integrationTestsSkip();

  it('passes every handwritten test', { skip }, (t) => {
    requireIntegrationTests();
    const started = Date.now();
    const tally = newTally();
    const tests = loadHandwrittenTests();
    assert.ok(tests.length > 0, 'no handwritten tests found');
    for (const test of tests) runTest(test, tally);
    const line = report('handwritten', tally, started);
    t.diagnostic(line);
    console.log(line);
    assert.equal(tally.unrepresentable, 0);
    assertNoFailures(tally);
  });

  it('passes every corpus test', { skip }, (t) => {
    requireIntegrationTests();
    const started = Date.now();
    const tests = loadCorpusTests();
    const loaded = Date.now();
    assert.ok(tests.length > 7000, `only ${tests.length} corpus tests found`);
    const tally = newTally();
    for (const test of tests) runTest(test, tally);
    const line = `${report('corpus', tally, started)} (loading ${loaded - started} ms)`;
    t.diagnostic(line);
    console.log(line);
    assertNoFailures(tally);
  });
});
