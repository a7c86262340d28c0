/**
 * The injected secret never comes back, end to end: a real gateway in front of a real HTTP API
 * that echoes every request header and the body (as headers, as JSON, as a base64 dump, gzipped
 * whether asked or not), on both databases. The agent's answer and the trail hold no form of the
 * secret; a finding is raised and the secret is marked for rotation until it is rotated.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from '../../support/databases.js';
import {
  assertProblem,
  call,
  POLICIES,
  startGateway,
  TEAM,
  UPSTREAM,
  UPSTREAM_KEY,
  type Answer,
  type TestGateway,
} from './fixture.js';

/** Injected as a query parameter: characters that URL encoding changes. */
const QUERY_KEY = 'query key/with+plus&amp=1 and spaces';
/** Injected as Basic authentication: base64 of `user:password`. */
const BASIC_PASSWORD = 'pw-0123456789abcdef';
const BASIC_KEY = Buffer.from(`svc-billing:${BASIC_PASSWORD}`).toString('base64');

/** Every form of `secret` an echo could carry it in, none of which may reach the agent. */
function forms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];
}

function assertClean(answer: Answer, secret: string): void {
  const everything = `${JSON.stringify(answer.headers)}\n${answer.text}`;
  for (const form of forms(secret)) {
    assert.ok(!everything.includes(form), `the agent got ${JSON.stringify(form)}: ${everything}`);
  }
}

/** The findings about the injected secret of the call `recordId`, once its outcome is written. */
async function echoFindings(g: TestGateway, recordId: unknown): Promise<Record<string, unknown>[]> {
  // The outcome is recorded once the answer has gone out: wait for it (bounded).
  for (let i = 0; i < 100; i++) {
    const outcomes = await g.events('gateway.outcome');
    if (outcomes.some((e) => e.targetId === recordId)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return (await g.events('finding.credential_exposed'))
    .map((e) => e.after)
    .filter((after) => after['kind'] === 'injected_secret' && after['call'] === recordId);
}

async function assertTrailClean(g: TestGateway, secret: string): Promise<void> {
  const rows = await g.store.db.selectFrom('audit_events').select(['type', 'after']).execute();
  for (const form of forms(secret)) {
    const row = rows.find((r) => (r.after ?? '').includes(form));
    assert.equal(row, undefined, `the trail holds ${JSON.stringify(form)} in ${row?.type ?? ''}`);
  }
}

for (const database of await testDatabases()) {
  describe(`the injected secret never comes back (${database.name})`, () => {
    let g: TestGateway;
    before(async () => {
      // Content recorded, so that the trail would hold whatever came back.
      g = await startGateway(database, { recordContent: true });
      await g.admin('POST', '/v1/secrets', { name: 'query-key', value: QUERY_KEY, team: TEAM });
      await g.admin('POST', '/v1/secrets', { name: 'basic-key', value: BASIC_KEY, team: TEAM });
      for (const [name, credential] of [
        ['billing-q', { secret: 'query-key', in: 'query', name: 'api_key', format: '{secret}' }],
        [
          'billing-basic',
          { secret: 'basic-key', in: 'header', name: 'authorization', format: 'Basic {secret}' },
        ],
      ] as const) {
        await g.admin('POST', '/v1/upstreams', {
          name,
          kind: 'http',
          url: g.upstream.url,
          team: TEAM,
          classification: 'confidential',
          credential,
          recordContent: true,
        });
      }
      await g.admin('PUT', '/v1/policies', {
        policies: `${POLICIES}
permit(principal, action == Steward::Action::"http_request", resource in Steward::Upstream::"billing-q");
permit(principal, action == Steward::Action::"http_request", resource in Steward::Upstream::"billing-basic");`,
        message: 'echo upstreams',
      });
    });
    after(async () => {
      await g.close();
    });

    test('an echoing upstream: the secret is scrubbed from headers and body, a finding raised, the secret due for rotation', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      const answer = await call(g, `/gw/http/${UPSTREAM}/reflect`, {
        token,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip, br' },
        body: '{"hello":"world"}',
      });
      assert.equal(answer.status, 200, answer.text);
      assertClean(answer, UPSTREAM_KEY);
      // The upstream did get the credential, and was asked not to compress its answer.
      const received = g.upstream.received[seen]?.headers ?? {};
      assert.equal(received['x-api-key'], UPSTREAM_KEY);
      assert.equal(received['accept-encoding'], 'identity');
      // Same length, so the body is still the JSON it was, and its Content-Length true.
      const json = answer.json() as { echo: { headers: Record<string, string>; body: string } };
      assert.match(json.echo.headers['x-api-key'] ?? '', /^\[REDACTED/);
      assert.equal(json.echo.body, '{"hello":"world"}');
      assert.equal(Number(answer.headers['content-length']), Buffer.byteLength(answer.text));
      assert.match(String(answer.headers['x-echo-x-api-key']), /^\[REDACTED/);

      const findings = await echoFindings(g, answer.headers['x-steward-record']);
      assert.deepEqual(findings.map((f) => f['where']).sort(), [
        'response.body',
        'response.headers',
      ]);
      for (const finding of findings) {
        assert.equal(finding['secret'], 'billing-key');
        assert.equal(finding['upstream'], UPSTREAM);
        assert.equal(finding['rotation'], 'due');
        assert.deepEqual(finding['mapping'], ['OWASP-NHI-2025:NHI2', 'NIST-CSF-2.0:PR.AA-01']);
      }
      const secret = await g.admin<{ exposedAt: string | null; rotationDue: boolean }>(
        'GET',
        '/v1/secrets/billing-key',
      );
      assert.equal(typeof secret.exposedAt, 'string');
      assert.equal(secret.rotationDue, true);
      const listed = await g.admin<{ items: { name: string; exposedAt: string | null }[] }>(
        'GET',
        '/v1/secrets',
      );
      assert.equal(
        listed.items.find((item) => item.name === 'billing-key')?.exposedAt,
        secret.exposedAt,
      );
      // The outcome's recorded content is the scrubbed answer, headers included.
      const outcome = (await g.events('gateway.outcome')).find(
        (e) => e.targetId === answer.headers['x-steward-record'],
      );
      const content = outcome?.after['content'] as Record<string, unknown> | undefined;
      assert.match(JSON.stringify(content?.['responseHeaders']), /x-echo-x-api-key/);
      await assertTrailClean(g, UPSTREAM_KEY);
    });

    test('an answer compressed although asked not to be is decoded, scrubbed and sent plain', async () => {
      const token = await g.token();
      const answer = await call(g, `/gw/http/${UPSTREAM}/reflect/gzip`, {
        token,
        headers: { 'accept-encoding': 'gzip' },
      });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.headers['content-encoding'], undefined);
      assertClean(answer, UPSTREAM_KEY);
      const json = answer.json() as { echo: { headers: Record<string, string> }; base64: string };
      assert.match(json.echo.headers['x-api-key'] ?? '', /^\[REDACTED/);
      assert.ok(!Buffer.from(json.base64, 'base64').toString().includes(UPSTREAM_KEY));
      const findings = await echoFindings(g, answer.headers['x-steward-record']);
      assert.ok(findings.some((f) => f['where'] === 'response.body'));
      await assertTrailClean(g, UPSTREAM_KEY);
      // An empty answer declared compressed is an empty answer.
      const empty = await call(g, `/gw/http/${UPSTREAM}/empty-gzip`, { token });
      assert.equal(empty.status, 200, empty.text);
      assert.equal(empty.text, '');
      // An encoding the gateway cannot read is not passed on unchecked.
      const unreadable = await call(g, `/gw/http/${UPSTREAM}/zstd`, { token });
      assertProblem(unreadable, 502, 'upstream_unavailable');
      const outcome = (await g.events('gateway.outcome')).find(
        (e) => e.targetId === unreadable.headers['x-steward-record'],
      );
      assert.match(String(outcome?.after['error']), /content-encoding/);
    });

    test('a secret injected in the query is scrubbed as sent (URL-encoded) and as written', async () => {
      const token = await g.token({ audience: 'billing-q' });
      const seen = g.upstream.received.length;
      const answer = await call(g, '/gw/http/billing-q/reflect?page=2', { token });
      assert.equal(answer.status, 200, answer.text);
      assert.match(g.upstream.received[seen]?.url ?? '', /[?&]api_key=query%20key%2Fwith%2Bplus/);
      assertClean(answer, QUERY_KEY);
      // The default route quotes the URL it was called with.
      const plain = await call(g, '/gw/http/billing-q/anything', { token });
      assert.equal(plain.status, 200, plain.text);
      assertClean(plain, QUERY_KEY);
      assert.equal(
        (await echoFindings(g, plain.headers['x-steward-record']))[0]?.['secret'],
        'query-key',
      );
      await assertTrailClean(g, QUERY_KEY);
    });

    test('a Basic credential echoed decoded (user and password apart) is scrubbed', async () => {
      const token = await g.token({ audience: 'billing-basic' });
      const answer = await call(g, '/gw/http/billing-basic/whoami', { token });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.json()['user'], 'svc-billing');
      assert.ok(!answer.text.includes(BASIC_PASSWORD), answer.text);
      assertClean(answer, BASIC_KEY);
      await assertTrailClean(g, BASIC_PASSWORD);
    });

    test('with content recorded, the decision record keeps the arguments, a credential among them redacted', async () => {
      const token = await g.token();
      const leaked = await g.token();
      const answer = await call(
        g,
        `/gw/http/${UPSTREAM}/search?q=${encodeURIComponent(`use ${leaked} please`)}&page=2`,
        { token },
      );
      assert.equal(answer.status, 200, answer.text);
      const recordId = answer.headers['x-steward-record'];
      const decision = (await g.events('decision.allow')).find((e) => e.targetId === recordId);
      assert.ok(decision, 'the decision record');
      // The arguments twice: in the Cedar context (a list of name and value) and as the call
      // gave them (the query, by name).
      const context = decision.after['context'] as {
        arguments?: { name: string; value: unknown }[];
      };
      const gateway = decision.after['gateway'] as { arguments?: Record<string, unknown> };
      const listed = (name: string) => context.arguments?.find((a) => a.name === name)?.value;
      for (const [where, value] of [
        ['context', listed],
        ['gateway', (name: string) => gateway.arguments?.[name]],
      ] as const) {
        assert.equal(value('page'), '2', `${where}: a plain argument is kept as it was`);
        assert.match(String(value('q')), /^use \[REDACTED[^\]]*\] please$/, where);
      }
      assert.ok(!JSON.stringify(decision.after).includes(leaked), 'the token is in the record');
    });

    test('an upstream that does not echo raises nothing; a rotation clears the mark', async () => {
      const token = await g.token();
      const answer = await call(g, `/gw/http/${UPSTREAM}/invoices`, { token });
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(await echoFindings(g, answer.headers['x-steward-record']), []);
      const rotated = await g.admin<{ exposedAt: string | null; rotationDue: boolean }>(
        'POST',
        '/v1/secrets/billing-key/rotate',
        { value: `${UPSTREAM_KEY}-2` },
        200,
      );
      assert.equal(rotated.exposedAt, null);
      assert.equal(rotated.rotationDue, false);
    });
  });
}
