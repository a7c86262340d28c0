/**
 * The HTTP gateway end to end: a real agent request (undici) → Steward → a real HTTP API, on
 * both databases. After every call: the right status and code, an audit record, and nothing
 * forwarded that should not be.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { testDatabases } from '../../support/databases.js';
import {
  assertProblem,
  call,
  POLICIES,
  raw,
  startGateway,
  UPSTREAM,
  UPSTREAM_KEY,
  type TestGateway,
} from './fixture.js';

/**
 * `path` on the upstream is refused with 400 `bad_request`. Sent raw, because URL-parsing
 * clients resolve dot segments and refuse backslashes before sending.
 */
async function assertPathRefused(g: TestGateway, token: string, path: string): Promise<void> {
  const answer = await raw(
    g,
    `GET /gw/http/${UPSTREAM}${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
  );
  assert.match(answer, /^HTTP\/1\.1 400/, `${path}: ${answer}`);
  assert.match(answer, /"code":"bad_request"/, path);
}

for (const database of await testDatabases()) {
  describe(`HTTP gateway (${database.name})`, () => {
    let g: TestGateway;
    before(async () => {
      g = await startGateway(database);
    });
    after(async () => {
      await g.close();
    });

    test('a permitted call reaches the upstream with the injected credential and not the agent token', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      const answer = await call(g, `/gw/http/${UPSTREAM}/invoices/42?expand=lines`, {
        token,
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      });
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.json(), { ok: true, path: '/invoices/42?expand=lines', bytes: 0 });
      const recordId = answer.headers['x-steward-record'];
      assert.equal(typeof recordId, 'string');
      // Hop-by-hop headers of the upstream do not come back.
      assert.equal(answer.headers['x-upstream-private'], undefined);
      const got = g.upstream.received.slice(seen);
      assert.equal(got.length, 1);
      const headers = got[0]?.headers ?? {};
      assert.equal(headers['x-api-key'], UPSTREAM_KEY);
      assert.equal(headers['authorization'], undefined);
      assert.ok(!JSON.stringify(headers).includes(token), 'the agent token reached the upstream');
      assert.match(
        String(headers['traceparent']),
        /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/,
      );
      assert.equal(headers['x-forwarded-for'], '127.0.0.1');

      const decisions = await g.events('decision.allow');
      const decision = decisions.find((e) => e.targetId === recordId);
      assert.ok(decision, 'the decision was recorded');
      assert.equal(decision.identityId, g.identity);
      assert.deepEqual(decision.after['policies'], ['billing-read-write']);
      const outcome = (await g.events('gateway.outcome')).find((e) => e.targetId === recordId);
      assert.equal(outcome?.after['status'], 200);
      assert.equal(typeof outcome?.after['latencyMs'], 'number');
    });

    test('a call without a traceparent gets one', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/invoices`, { token })).status, 200);
      assert.match(
        String(g.upstream.received[seen]?.headers['traceparent']),
        /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/,
      );
    });

    test('a forbidden call is refused and never reaches the upstream', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      const admin = await call(g, `/gw/http/${UPSTREAM}/admin/users`, { token });
      assertProblem(admin, 403, 'forbidden');
      const refund = await call(g, `/gw/http/${UPSTREAM}/refunds/7`, {
        token,
        method: 'POST',
        body: '{}',
      });
      assertProblem(refund, 403, 'forbidden');
      const put = await call(g, `/gw/http/${UPSTREAM}/invoices/1`, {
        token,
        method: 'PUT',
        body: '{}',
      });
      assertProblem(put, 403, 'forbidden');
      assert.equal(g.upstream.received.length, seen);
      const denied = await g.events('decision.deny');
      const refundDecision = denied.find((e) => e.targetId === refund.headers['x-steward-record']);
      assert.deepEqual(refundDecision?.after['policies'], ['no-refunds']);
    });

    test('a token revoked between two calls makes the second fail', async () => {
      const token = await g.token();
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/a`, { token })).status, 200);
      const jti = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
        jti: string;
      };
      await g.admin('POST', '/v1/revocations', { kind: 'token', jti: jti.jti, reason: 'test' });
      const seen = g.upstream.received.length;
      const second = await call(g, `/gw/http/${UPSTREAM}/a`, { token });
      assertProblem(second, 401, 'unauthenticated');
      assert.match(String(second.headers['www-authenticate']), /^Bearer /);
      assert.equal(g.upstream.received.length, seen);
      const refused = await g.events('gateway.refused');
      assert.ok(refused.some((e) => e.targetId === second.headers['x-steward-record']));
    });

    test('a task completed between two calls makes the second fail', async () => {
      const task = await g.admin<{ id: string }>('POST', '/v1/tasks', {
        identity: g.identity,
        deadlineSeconds: 600,
        description: 'one invoice',
      });
      const token = await g.token({ task: task.id });
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/b`, { token })).status, 200);
      await g.admin('POST', `/v1/tasks/${task.id}/complete`, {}, 200);
      const seen = g.upstream.received.length;
      assertProblem(await call(g, `/gw/http/${UPSTREAM}/b`, { token }), 401, 'unauthenticated');
      assert.equal(g.upstream.received.length, seen);
    });

    test('no token, a wrong audience, another workload and an expired token are refused', async () => {
      const seen = g.upstream.received.length;
      assertProblem(await call(g, `/gw/http/${UPSTREAM}/c`), 401, 'unauthenticated');
      assertProblem(
        await call(g, `/gw/http/${UPSTREAM}/c`, { token: 'not-a-token' }),
        401,
        'unauthenticated',
      );
      const stewardToken = await g.token({ audience: 'steward' });
      assertProblem(
        await call(g, `/gw/http/${UPSTREAM}/c`, { token: stewardToken }),
        401,
        'unauthenticated',
      );
      // Another workload, with a valid token for this upstream, that policy does not permit.
      const other = await g.token({ identity: g.otherIdentity });
      assertProblem(await call(g, `/gw/http/${UPSTREAM}/c`, { token: other }), 403, 'forbidden');
      const token = await g.token();
      g.clock.advance(3_600_000);
      try {
        assertProblem(await call(g, `/gw/http/${UPSTREAM}/c`, { token }), 401, 'unauthenticated');
      } finally {
        g.clock.advance(-3_600_000);
      }
      assert.equal(g.upstream.received.length, seen);
      // An upstream that does not exist is a 404, told only to an authenticated caller.
      assertProblem(await call(g, `/gw/http/nope/c`, { token }), 401, 'unauthenticated');
    });

    test('path traversal and encoding tricks are refused before any decision', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      for (const path of [
        '/invoices/../admin/users',
        '/invoices/%2e%2e/admin',
        '/invoices/%2E%2E/admin',
        '/invoices/.%2e/admin',
        '/./admin',
        '/invoices%2f..%2fadmin',
        '/invoices%2Fadmin',
        '/invoices%5cadmin',
        '/invoices/%252e%252e/admin',
        '/invoices%00.json',
        '/invoices//admin',
        '/invoices/%zz',
      ]) {
        await assertPathRefused(g, token, path);
      }
      await assertPathRefused(g, token, '/invoices\\..\\admin');
      assert.equal(g.upstream.received.length, seen);
      assert.ok((await g.events('gateway.refused')).some((e) => e.after['code'] === 'bad_request'));
    });

    test('path parameters, Unicode look-alikes and non-UTF-8 escapes are refused before any decision', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      for (const path of [
        // Tomcat and Spring drop path parameters and read `..;` as `..`: policy would see
        // `/invoices/..;/admin/users`, the server `/admin/users`.
        '/invoices/..;/admin/users',
        '/invoices/.;/admin',
        '/invoices/%2e%2e;/admin',
        '/;x=y/admin/users',
        '/admin;jsessionid=0123/users',
        '/invoices/%3B/admin',
        // Full-width and other look-alikes of `.` and `/` that NFKC or best-fit mapping turn
        // into the real thing, and a full-width `a` in `admin`.
        '/invoices/%EF%BC%8E%EF%BC%8E/admin',
        '/invoices/%E2%80%A4%E2%80%A4/admin',
        '/invoices/%E3%80%82%E3%80%82/admin',
        '/invoices%EF%BC%8Fadmin',
        '/invoices%E2%88%95admin',
        '/%EF%BD%81dmin/users',
        // Overlong UTF-8 for `.`, and bytes that are no UTF-8 at all.
        '/invoices/%C0%AE%C0%AE/admin',
        '/invoices/%FF',
        // Dots and a space: `..` to a server that trims.
        '/invoices/..%20/admin',
      ]) {
        await assertPathRefused(g, token, path);
      }
      assert.equal(g.upstream.received.length, seen);
      // Unicode that means what it says is decided and forwarded byte for byte.
      const answer = await call(g, `/gw/http/${UPSTREAM}/invoices/caf%C3%A9`, { token });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(g.upstream.received[seen]?.url, '/invoices/caf%C3%A9');
      const decision = (await g.events('decision.allow')).find(
        (e) => e.targetId === answer.headers['x-steward-record'],
      );
      // The path decided (in the context and the record) is the path forwarded.
      assert.equal((decision?.after['context'] as { path?: string }).path, '/invoices/caf%C3%A9');
      assert.equal((decision?.after['gateway'] as { path?: string }).path, '/invoices/caf%C3%A9');
    });

    test('a repeated query parameter is refused: policy sees each name once, as the upstream reads it', async () => {
      await g.admin('PUT', '/v1/policies', {
        policies: `${POLICIES}
@id("no-admin-account")
forbid(principal, action == Steward::Action::"http_request", resource)
  when { context has arguments && context.arguments.contains({name: "account", value: "admin"}) };`,
        message: 'no admin account',
      });
      const token = await g.token();
      assertProblem(
        await call(g, `/gw/http/${UPSTREAM}/statements?account=admin`, { token }),
        403,
        'forbidden',
      );
      const seen = g.upstream.received.length;
      for (const query of [
        // Joined as "user,admin" the forbid did not see `admin`; the upstream may read the last.
        'account=user&account=admin',
        'account=user&ACCOUNT=admin',
        'account=user&%61ccount=admin',
        'account=user&account',
        // Servers that split parameters on `;` too.
        'account=user;account=admin',
        // Method overrides read from the query.
        '_method=DELETE',
        'X-HTTP-Method-Override=DELETE',
        // A name NFKC turns into `account`.
        '%EF%BD%81ccount=admin',
        // Not UTF-8.
        'account=%C0%AE',
      ]) {
        const answer = await call(g, `/gw/http/${UPSTREAM}/statements?${query}`, { token });
        assertProblem(answer, 400, 'bad_request');
      }
      assert.equal(g.upstream.received.length, seen);
      const single = await call(g, `/gw/http/${UPSTREAM}/statements?account=user&from=2024`, {
        token,
      });
      assert.equal(single.status, 200, single.text);
      assert.equal(g.upstream.received[seen]?.url, '/statements?account=user&from=2024');
      // `__proto__` is a parameter like any other, not dropped on its way to policy.
      const proto = await call(g, `/gw/http/${UPSTREAM}/statements?__proto__=admin`, { token });
      assert.equal(proto.status, 200, proto.text);
      const decision = (await g.events('decision.allow')).find(
        (e) => e.targetId === proto.headers['x-steward-record'],
      );
      assert.deepEqual(
        (decision?.after['gateway'] as { argumentNames?: string[] } | undefined)?.argumentNames,
        ['__proto__'],
      );
      await g.admin('PUT', '/v1/policies', { policies: POLICIES, message: 'back' });
    });

    test('method and URL overrides and client-claimed addresses never reach the upstream', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      const sent: Record<string, string> = {
        'x-http-method-override': 'DELETE',
        'x-http-method': 'DELETE',
        'x-method-override': 'DELETE',
        'x-original-method': 'DELETE',
        'x-original-url': '/admin/users',
        'x-rewrite-url': '/admin/users',
        'x-override-url': '/admin/users',
        'x-original-uri': '/admin/users',
        'x-envoy-original-path': '/admin/users',
        'x-real-ip': '10.0.0.1',
        'x-forwarded': 'for=10.0.0.1',
        'forwarded-for': '10.0.0.1',
        'x-client-ip': '10.0.0.1',
        'client-ip': '10.0.0.1',
        'true-client-ip': '10.0.0.1',
        'x-cluster-client-ip': '10.0.0.1',
        'cf-connecting-ip': '10.0.0.1',
        'fastly-client-ip': '10.0.0.1',
        'x-originating-ip': '10.0.0.1',
        'x-remote-ip': '10.0.0.1',
        'x-remote-addr': '10.0.0.1',
        'x-host': 'internal.example',
        'x-forwarded-server': 'internal.example',
        // CGI-style servers read these as X-Forwarded-For, X-HTTP-Method-Override and the
        // injected X-Api-Key.
        x_forwarded_for: '10.0.0.1',
        x_http_method_override: 'DELETE',
        x_api_key: 'agent-chosen-key',
        'x-kept': 'yes',
      };
      const answer = await call(g, `/gw/http/${UPSTREAM}/invoices`, { token, headers: sent });
      assert.equal(answer.status, 200, answer.text);
      const received = g.upstream.received[seen]?.headers ?? {};
      for (const name of Object.keys(sent)) {
        if (name === 'x-kept') continue;
        assert.equal(received[name], undefined, `${name} reached the upstream`);
      }
      assert.equal(received['x-kept'], 'yes');
      assert.equal(received['x-api-key'], UPSTREAM_KEY);
      assert.equal(received['x-forwarded-for'], '127.0.0.1');
      assert.equal(g.upstream.received[seen]?.method, 'GET');
      assert.equal(g.upstream.received[seen]?.url, '/invoices');
    });

    test('encoded unreserved characters are decided and forwarded in one spelling', async () => {
      const token = await g.token();
      // `%61dmin` is `admin`: the forbid on /admin* must see it so.
      assertProblem(
        await call(g, `/gw/http/${UPSTREAM}/%61dmin/users`, { token }),
        403,
        'forbidden',
      );
      const seen = g.upstream.received.length;
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/in%76oices/a%20b`, { token })).status, 200);
      assert.equal(g.upstream.received[seen]?.url, '/invoices/a%20b');
    });

    test('smuggling-prone and forged headers do not pass', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      // Raw: client libraries manage `Connection` themselves.
      const listed = await raw(
        g,
        `GET /gw/http/${UPSTREAM}/h HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close, x-internal\r\nX-Internal: secret-hop\r\n\r\n`,
      );
      assert.match(listed, /^HTTP\/1\.1 200/);
      assert.equal(g.upstream.received[seen]?.headers['x-internal'], undefined);
      const answer = await call(g, `/gw/http/${UPSTREAM}/h`, {
        token,
        headers: {
          'proxy-authorization': 'Basic Zm9vOmJhcg==',
          'x-forwarded-for': '10.0.0.1',
          'x-forwarded-host': 'internal.example',
          forwarded: 'for=10.0.0.1',
          'x-api-key': 'agent-chosen-key',
        },
      });
      assert.equal(answer.status, 200, answer.text);
      const headers = g.upstream.received[seen + 1]?.headers ?? {};
      assert.equal(headers['proxy-authorization'], undefined);
      assert.equal(headers['x-forwarded-for'], '127.0.0.1');
      assert.notEqual(headers['x-forwarded-host'], 'internal.example');
      assert.equal(
        headers['forwarded'],
        'for=127.0.0.1;proto=http;host="' + new URL(g.url).host + '"',
      );
      assert.equal(headers['x-api-key'], UPSTREAM_KEY);

      // Content-Length with Transfer-Encoding: refused by the HTTP parser before any route.
      const before = g.upstream.received.length;
      const conflict = await raw(
        g,
        `POST /gw/http/${UPSTREAM}/h HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /gw/http/${UPSTREAM}/admin HTTP/1.1\r\n\r\n`,
      );
      assert.match(conflict, /^HTTP\/1\.1 400/);
      assert.equal(g.upstream.received.length, before);
    });

    test('oversized request bodies are refused with 413', async () => {
      const token = await g.token();
      const seen = g.upstream.received.length;
      const declared = await call(g, `/gw/http/${UPSTREAM}/upload`, {
        token,
        method: 'POST',
        body: Buffer.alloc(4096, 1),
      });
      assertProblem(declared, 413, 'payload_too_large');
      assert.equal(g.upstream.received.length, seen);
      // Chunked, no length: found while streaming, and the upstream gets no complete request.
      async function* chunks(): AsyncIterable<Buffer> {
        for (let i = 0; i < 8; i++) yield Buffer.alloc(512, 2);
      }
      const streamed = await call(g, `/gw/http/${UPSTREAM}/upload`, {
        token,
        method: 'POST',
        body: Readable.from(chunks()),
      });
      assertProblem(streamed, 413, 'payload_too_large');
      const small = await call(g, `/gw/http/${UPSTREAM}/upload`, {
        token,
        method: 'POST',
        body: 'hello',
      });
      assert.equal(small.status, 200);
      assert.equal(small.json()['bytes'], 5);
    });

    test('oversized responses are refused with 502', async () => {
      const token = await g.token();
      assertProblem(
        await call(g, `/gw/http/${UPSTREAM}/big`, { token }),
        502,
        'response_too_large',
      );
      const outcomes = await g.events('gateway.outcome');
      assert.ok(outcomes.some((e) => e.after['error'] === 'response_too_large'));
    });

    test('a slow upstream is a 504, recorded as such', async () => {
      const token = await g.token();
      const answer = await call(g, `/gw/http/${UPSTREAM}/slow`, { token });
      assertProblem(answer, 504, 'upstream_timeout');
      const outcome = (await g.events('gateway.outcome')).find(
        (e) => e.targetId === answer.headers['x-steward-record'],
      );
      assert.match(String(outcome?.after['error']), /^upstream_timeout/);
    });

    test('an argument carrying a Steward access token is redacted, the token revoked, a finding recorded', async () => {
      const token = await g.token();
      const leaked = await g.token();
      const answer = await call(
        g,
        `/gw/http/${UPSTREAM}/search?q=${encodeURIComponent(`use ${leaked} please`)}`,
        { token },
      );
      assert.equal(answer.status, 200, answer.text);
      const findings = await g.events('finding.credential_exposed');
      // The argument's finding (the upstream's answer quotes the query: a finding of its own).
      const finding = findings.findLast((f) => f.after['where'] === 'arguments/q');
      assert.equal(finding?.after['kind'], 'jwt');
      assert.match(String(finding?.after['revoked']), /^token:/);
      // The leaked token no longer works anywhere.
      assertProblem(
        await call(g, `/gw/http/${UPSTREAM}/x`, { token: leaked }),
        401,
        'unauthenticated',
      );
      // And the trail holds no copy of it.
      const rows = await g.store.db.selectFrom('audit_events').select('after').execute();
      assert.ok(
        !rows.some((r) => (r.after ?? '').includes(leaked)),
        'the leaked token is in the trail',
      );
    });

    test('a Steward token in a request body or a result is found, revoked and kept out of the trail', async () => {
      const token = await g.token();
      const leaked = await g.token();
      const answer = await call(g, `/gw/http/${UPSTREAM}/echo`, {
        token,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ note: `my token is ${leaked}` }),
      });
      assert.equal(answer.status, 200, answer.text);
      // The agent's answer streams through untouched; the record is what is redacted.
      assert.ok(answer.text.includes(leaked));
      // The outcome is scanned once the answer has gone out: wait (bounded) for the revocation.
      let refused = await call(g, `/gw/http/${UPSTREAM}/x`, { token: leaked });
      for (let i = 0; i < 100 && refused.status !== 401; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        refused = await call(g, `/gw/http/${UPSTREAM}/x`, { token: leaked });
      }
      assertProblem(refused, 401, 'unauthenticated');
      await g.core.gateway.drain();
      const finding = (await g.events('finding.credential_exposed')).at(-1);
      assert.equal(finding?.after['kind'], 'jwt');
      const rows = await g.store.db.selectFrom('audit_events').select('after').execute();
      assert.ok(
        !rows.some((r) => (r.after ?? '').includes(leaked)),
        'the leaked token is in the trail',
      );
    });

    test('a Steward token in a response header is found, revoked and kept out of the trail', async () => {
      const token = await g.token();
      const leaked = await g.token();
      // The upstream answers with the request's headers as its own, and an empty body.
      const answer = await call(g, `/gw/http/${UPSTREAM}/reflect/headers`, {
        token,
        headers: { 'x-debug': `token ${leaked}` },
      });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.text, '{}');
      // The outcome is scanned once the answer has gone out: wait (bounded) for its finding.
      const headerFinding = async () =>
        (await g.events('finding.credential_exposed')).findLast(
          (f) => f.after['where'] === 'result/responseHeaders/x-echo-x-debug',
        );
      let finding = await headerFinding();
      for (let i = 0; i < 100 && finding === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        finding = await headerFinding();
      }
      assertProblem(
        await call(g, `/gw/http/${UPSTREAM}/x`, { token: leaked }),
        401,
        'unauthenticated',
      );
      assert.equal(finding?.after['kind'], 'jwt');
      assert.match(String(finding?.after['revoked']), /^token:/);
      const rows = await g.store.db.selectFrom('audit_events').select('after').execute();
      assert.ok(!rows.some((r) => (r.after ?? '').includes(leaked)), 'the token is in the trail');
    });

    test('an upstream pointing at the metadata address is refused at registration', async () => {
      const refused = await g.app.inject({
        method: 'POST',
        url: '/v1/upstreams',
        headers: {
          authorization: `Bearer ${(await g.core.apiKeys.create({ actor: { ref: 'system', role: 'system' } }, { name: 'k', role: 'admin' })).key}`,
        },
        payload: {
          name: 'metadata',
          kind: 'http',
          url: 'http://169.254.169.254/latest',
          team: 'finance',
          classification: 'internal',
        },
      });
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal(refused.json<{ code: string }>().code, 'egress_refused');
    });
  });
}

describe('HTTP gateway failures (sqlite)', async () => {
  const [database] = await testDatabases();
  assert.ok(database);

  test('an upstream that is down is a 502', async () => {
    const g = await startGateway(database);
    try {
      const token = await g.token();
      await g.upstream.close();
      const answer = await call(g, `/gw/http/${UPSTREAM}/x`, { token });
      assertProblem(answer, 502, 'upstream_unavailable');
      const outcome = (await g.events('gateway.outcome')).at(-1);
      assert.match(String(outcome?.after['error']), /^upstream_unavailable/);
    } finally {
      await g.close();
    }
  });

  test('the per-identity rate limit answers 429 with Retry-After', async () => {
    const g = await startGateway(database, { rateLimit: { perSecond: 1, burst: 2 } });
    try {
      const token = await g.token();
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/r`, { token })).status, 200);
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/r`, { token })).status, 200);
      const third = await call(g, `/gw/http/${UPSTREAM}/r`, { token });
      assertProblem(third, 429, 'rate_limited');
      assert.equal(third.headers['retry-after'], '1');
      g.clock.advance(1_000);
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/r`, { token })).status, 200);
    } finally {
      await g.close();
    }
  });

  test('the configured per-upstream limit holds across identities; the refusal is recorded', async () => {
    const g = await startGateway(
      database,
      {},
      {
        rateLimits: {
          perIdentity: { perSecond: 100, burst: 100 },
          perIdentityUpstream: { perSecond: 100, burst: 100 },
          perUpstream: { perSecond: 1, burst: 3 },
        },
      },
    );
    try {
      const token = await g.token();
      const other = await g.token({ identity: g.otherIdentity });
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/r`, { token })).status, 200);
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/r`, { token })).status, 200);
      // Another identity's call (refused by policy) still counts against the upstream's bucket.
      assertProblem(await call(g, `/gw/http/${UPSTREAM}/r`, { token: other }), 403, 'forbidden');
      const seen = g.upstream.received.length;
      const refused = await call(g, `/gw/http/${UPSTREAM}/r`, { token });
      assertProblem(refused, 429, 'rate_limited');
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(g.upstream.received.length, seen);
      const recorded = await g.events('gateway.refused');
      assert.ok(recorded.some((event) => JSON.stringify(event).includes('rate_limited')));
      g.clock.advance(1_000);
      assert.equal((await call(g, `/gw/http/${UPSTREAM}/r`, { token })).status, 200);
    } finally {
      await g.close();
    }
  });

  test('when the decision cannot be recorded the call is refused with 503 and nothing is forwarded', async () => {
    const g = await startGateway(database);
    try {
      const token = await g.token();
      await g.store.db.schema.dropTable('audit_events').execute();
      const seen = g.upstream.received.length;
      const answer = await call(g, `/gw/http/${UPSTREAM}/x`, { token });
      assertProblem(answer, 503, 'audit_unavailable');
      assert.equal(g.upstream.received.length, seen);
    } finally {
      await g.close();
    }
  });
});

describe('HTTP gateway egress at connect time (sqlite)', async () => {
  const [database] = await testDatabases();
  assert.ok(database);

  test('a name that resolves to the metadata address when the gateway connects is refused (DNS rebinding)', async () => {
    // The resolver is the test's: `rebind.test` is public at registration, metadata later.
    let answer = '93.184.216.34';
    const g = await startGateway(
      database,
      {},
      { resolveHost: async (host) => (host === 'rebind.test' ? [answer] : ['127.0.0.1']) },
    );
    try {
      await g.admin('POST', '/v1/upstreams', {
        name: 'rebind',
        kind: 'http',
        url: 'http://rebind.test:9/',
        team: 'finance',
        classification: 'internal',
        timeoutMs: 500,
      });
      await g.admin('PUT', '/v1/policies', {
        policies: `permit(principal, action == Steward::Action::"http_request", resource in Steward::Upstream::"rebind");`,
        message: 'rebind',
      });
      const token = await g.token({ audience: 'rebind' });
      answer = '169.254.169.254';
      const refused = await call(g, '/gw/http/rebind/latest/meta-data', { token });
      assertProblem(refused, 502, 'upstream_unavailable');
      const outcome = (await g.events('gateway.outcome')).at(-1);
      assert.match(String(outcome?.after['error']), /STEWARD_EGRESS_REFUSED/);
    } finally {
      await g.close();
    }
  });
});
