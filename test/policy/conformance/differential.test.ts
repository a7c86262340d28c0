/**
 * The differential test (issue 4, part 6): random schema-conforming policy sets and requests,
 * asked of the engine under test and of the official engine, which must agree on the decision,
 * the determining policies and the erroring policies, every time. Seeded and deterministic:
 * 10,000 request/policy-set pairs in CI, `STEWARD_DIFFERENTIAL_PAIRS=<n>` for a longer run
 * (`STEWARD_DIFFERENTIAL_SEED=<n>` to start elsewhere). Every disagreement is shrunk to the fewest
 * policies that still disagree and written to `regressions/` for `regression.test.ts` to replay.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import {
  fastEngine,
  referenceEngine,
  type AuthorizationRequest,
  type Entity,
  type PolicyEngine,
  type PolicySource,
} from '../../../src/policy/engine/index.js';
import { generateCase } from './generator.js';
import {
  addCounts,
  authorizeOutcome,
  coverageOf,
  describeOutcome,
  sameOutcome,
  type Outcome,
} from './outcome.js';
import { saveRegression } from './regression-case.js';

/** The engine under test. */
const ENGINE: PolicyEngine = fastEngine;
const ORACLE: PolicyEngine = referenceEngine;

const REQUESTS_PER_SET = 10;
const PAIRS = positiveInt(process.env['STEWARD_DIFFERENTIAL_PAIRS'], 10_000);
const FIRST_SEED = positiveInt(process.env['STEWARD_DIFFERENTIAL_SEED'], 1);
const SHOWN = 10;

function positiveInt(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a whole number: ${value}`);
  return n;
}

function outcome(
  engine: PolicyEngine,
  policies: PolicySource,
  entities: readonly Entity[],
  request: AuthorizationRequest,
): Outcome {
  let prepared;
  try {
    prepared = engine.prepare(policies);
  } catch (error) {
    return { threw: `prepare: ${error instanceof Error ? error.message : String(error)}` };
  }
  try {
    return authorizeOutcome(prepared, request, engine.prepareEntities(entities));
  } finally {
    prepared.release();
  }
}

/** Drops policies one at a time while the engines still disagree. */
function shrink(
  policies: PolicySource,
  entities: readonly Entity[],
  request: AuthorizationRequest,
): PolicySource {
  let current: Record<string, string> = { ...policies };
  for (const id of Object.keys(policies)) {
    if (Object.keys(current).length === 1) break;
    const { [id]: _dropped, ...rest } = current;
    if (
      !sameOutcome(
        outcome(ENGINE, rest, entities, request),
        outcome(ORACLE, rest, entities, request),
      )
    ) {
      current = rest;
    }
  }
  return current;
}

describe(`differential: ${ENGINE.name} engine against the official engine`, () => {
  it('generates schemas that parse and entities and contexts that conform to them', () => {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + 40; seed += 1) {
      const generated = generateCase(seed, 3);
      const schema = cedar.checkParseSchema(generated.schema);
      assert.equal(
        schema.type,
        'success',
        `seed ${seed}: ${JSON.stringify(schema)}\n${generated.schema}`,
      );
      const entities = cedar.checkParseEntities({
        entities: generated.entities as unknown as cedar.EntityJson[],
        schema: generated.schema,
      });
      assert.equal(entities.type, 'success', `seed ${seed}: ${JSON.stringify(entities)}`);
      for (const request of generated.requests) {
        const context = cedar.checkParseContext({
          context: request.context as cedar.Context,
          schema: generated.schema,
          action: request.action,
        });
        assert.equal(context.type, 'success', `seed ${seed}: ${JSON.stringify(context)}`);
      }
    }
  });

  it(`agrees on ${PAIRS} request/policy-set pairs`, (t) => {
    const started = Date.now();
    const sets = Math.ceil(PAIRS / REQUESTS_PER_SET);
    const disagreements: string[] = [];
    const coverage: Record<string, number> = {};
    const tally = { pairs: 0, policies: 0, allow: 0, deny: 0, withErrors: 0, threw: 0 };
    for (let seed = FIRST_SEED; seed < FIRST_SEED + sets; seed += 1) {
      const generated = generateCase(seed, Math.min(REQUESTS_PER_SET, PAIRS - tally.pairs));
      tally.policies += Object.keys(generated.policies).length;
      const oracle = ORACLE.prepare(generated.policies); // the generator writes valid Cedar
      let engine;
      try {
        engine = ENGINE.prepare(generated.policies);
      } catch (error) {
        disagreements.push(`seed ${seed}: ${ENGINE.name} could not prepare: ${String(error)}`);
        oracle.release();
        continue;
      }
      addCounts(coverage, coverageOf(engine));
      const oracleEntities = ORACLE.prepareEntities(generated.entities);
      const engineEntities = ENGINE.prepareEntities(generated.entities);
      generated.requests.forEach((request, index) => {
        tally.pairs += 1;
        const expected = authorizeOutcome(oracle, request, oracleEntities);
        const actual = authorizeOutcome(engine, request, engineEntities);
        if ('threw' in expected) tally.threw += 1;
        else {
          tally[expected.decision] += 1;
          if (expected.errors.length > 0) tally.withErrors += 1;
        }
        if (sameOutcome(expected, actual)) return;
        const policies = shrink(generated.policies, generated.entities, request);
        const file = saveRegression({
          seed,
          requestIndex: index,
          schema: generated.schema,
          policies,
          entities: generated.entities,
          request,
          expected: outcome(ORACLE, policies, generated.entities, request),
          actual: outcome(ENGINE, policies, generated.entities, request),
          engine: ENGINE.name,
        });
        disagreements.push(
          `seed ${seed} request ${index} (regressions/${file}): official ${describeOutcome(expected)}, ` +
            `${ENGINE.name} ${describeOutcome(actual)}`,
        );
      });
      oracle.release();
      engine.release();
    }
    const covered = Object.entries(coverage)
      .map(([key, value]) => `${key}=${value}`)
      .join(' ');
    const line =
      `differential ${ENGINE.name} vs ${ORACLE.name}: ${tally.pairs} pairs over ${sets} policy sets ` +
      `(${tally.policies} policies${covered ? `; ${covered}` : ''}); official answers: ` +
      `${tally.allow} allow, ${tally.deny} deny, ${tally.withErrors} with errors, ${tally.threw} threw; ` +
      `${disagreements.length} disagreements; ${Date.now() - started} ms`;
    t.diagnostic(line);
    console.log(line);
    assert.ok(tally.pairs >= PAIRS, `only ${tally.pairs} pairs ran`);
    assert.equal(
      disagreements.length,
      0,
      `${disagreements.length} disagreements:\n${disagreements.slice(0, SHOWN).join('\n')}`,
    );
  });
});
