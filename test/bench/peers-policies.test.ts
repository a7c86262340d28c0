/**
 * The peers bench compares `POST /v1/authorize` with the Cerbos PDP on generated rule sets that
 * are meant to be equivalent. This checks that they are: Steward (its real route, over a real
 * SQLite store) and Cerbos (the real binary from the dev dependency, disk store) give the
 * expected decision on every bench request, at two sizes, so the comparison measures the same
 * decisions on both sides.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCerbos, type RunningCerbos } from '../../bench/peers/cerbos.js';
import {
  cedarPolicies,
  cerbosCheck,
  cerbosDecision,
  cerbosPolicies,
  REQUESTS,
  stewardAuthorize,
  tenantsFor,
} from '../../bench/peers/policies.js';
import {
  registerWorkloads,
  writePolicies,
  type AdminCall,
} from '../../bench/peers/steward-setup.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { sqlite } from '../support/databases.js';

const SIZES = [10, 100] as const;

describe('peers bench: equivalent policies for Steward and Cerbos', () => {
  let steward: TestApp;
  let ids: Record<string, string>;
  let admin: AdminCall;

  before(async () => {
    steward = await startTestApp(sqlite);
    admin = async <T>(method: 'POST' | 'PUT', url: string, body: unknown) => {
      const response = await steward.call('admin', {
        method,
        url,
        payload: body as Record<string, unknown>,
      });
      assert.ok(response.statusCode < 300, `${method} ${url}: ${response.body}`);
      return response.json<T>();
    };
    ids = await registerWorkloads(admin);
  });
  after(() => steward.close());

  it('sizes the sets as asked: two globals and two rules per tenant', () => {
    assert.equal(tenantsFor(1_000), 499);
    assert.equal(cerbosPolicies(100).length, 1 + 49);
    assert.equal(cedarPolicies(100).match(/^@id\(/gm)?.length, 100);
    assert.throws(() => tenantsFor(11), RangeError);
  });

  it('covers both decisions', () => {
    assert.deepEqual([...new Set(REQUESTS.map((r) => r.expected))].sort(), ['allow', 'deny']);
  });

  for (const size of SIZES) {
    describe(`${size} rules`, () => {
      let cerbos: RunningCerbos;
      before(async () => {
        cerbos = await startCerbos(cerbosPolicies(size));
        await writePolicies(admin, size);
      });
      after(() => cerbos.close());

      for (const request of REQUESTS) {
        it(`${request.name}: both ${request.expected}`, async () => {
          const id = ids[request.workload.name];
          assert.ok(id !== undefined);
          const answer = await steward.call('security', {
            method: 'POST',
            url: '/v1/authorize',
            headers: { 'content-type': 'application/json' },
            payload: stewardAuthorize(request, id),
          });
          assert.equal(answer.statusCode, 200, answer.body);
          const decided = answer.json<{ decision: string; errors: unknown[] }>();
          assert.deepEqual(decided.errors, []);
          assert.equal(decided.decision, request.expected, 'Steward');

          const checked = await fetch(`${cerbos.url}/api/check/resources`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: cerbosCheck(request),
          });
          assert.equal(checked.status, 200);
          assert.equal(cerbosDecision(await checked.json()), request.expected, 'Cerbos');
        });
      }
    });
  }
});
