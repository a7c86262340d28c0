/**
 * The MCP gateway end to end: the official MCP SDK client → Steward's `/gw/mcp/<upstream>` → an
 * official MCP SDK server, over Streamable HTTP on loopback, with the real enforcement core,
 * policy, secret store and audit trail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from '../../support/databases.js';
import { connect, ISSUER, refusal, startGateway, UPSTREAM, type TestGateway } from './fixture.js';
import { UPSTREAM_KEY } from './upstream-server.js';

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

for (const database of await testDatabases()) {
  describe(`MCP gateway (${database.name})`, () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway(database, 2);
    });
    after(async () => {
      await gw.close();
    });
    const url = () => gw.replicas[0]?.url ?? '';

    it('lists only the tools, resources and prompts policy lets the caller use', async () => {
      const client = await connect(url(), await gw.token());
      try {
        const { tools } = await client.listTools();
        assert.deepEqual(
          tools.map((tool) => tool.name),
          ['lookup_order'],
        );
        const { resources } = await client.listResources();
        assert.deepEqual(
          resources.map((resource) => resource.uri),
          ['orders://recent'],
        );
        const { prompts } = await client.listPrompts();
        assert.deepEqual(
          prompts.map((prompt) => prompt.name),
          ['summarise'],
        );
      } finally {
        await client.close();
      }
    });

    it('forwards a permitted call with the injected credential, never the agent token', async () => {
      const token = await gw.token();
      const before = gw.upstream.requests.length;
      const client = await connect(url(), token);
      try {
        const result = await client.callTool({ name: 'lookup_order', arguments: { id: '42' } });
        assert.deepEqual(result.content, [{ type: 'text', text: 'order 42: shipped' }]);
        const read = await client.readResource({ uri: 'orders://recent' });
        assert.equal(read.contents[0]?.uri, 'orders://recent');
        const prompt = await client.getPrompt({ name: 'summarise' });
        assert.equal(prompt.messages.length, 1);
      } finally {
        await client.close();
      }
      const seen = gw.upstream.requests.slice(before);
      assert.ok(seen.length > 0);
      for (const request of seen) {
        assert.equal(request.headers['x-api-key'], UPSTREAM_KEY);
        assert.equal(request.headers.authorization, undefined);
        for (const value of Object.values(request.headers)) {
          assert.ok(!String(value).includes(token), 'the agent token reached the upstream');
        }
        assert.match(String(request.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      }
    });

    it('refuses a forbidden call with a JSON-RPC error; the upstream never sees it', async () => {
      const client = await connect(url(), await gw.token());
      const calls = gw.upstream.toolCalls.length;
      try {
        const refused = await refusal(
          client.callTool({ name: 'refund', arguments: { id: '42', amount: 500 } }),
        );
        assert.equal(refused.code, -32011);
        assert.equal(refused.data?.['code'], 'forbidden');
        assert.equal(typeof refused.data?.['recordId'], 'string');
        const resource = await refusal(client.readResource({ uri: 'orders://ledger' }));
        assert.equal(resource.data?.['code'], 'forbidden');
        const prompt = await refusal(client.getPrompt({ name: 'escalate' }));
        assert.equal(prompt.data?.['code'], 'forbidden');
        // The decision is on the trail, with the tool and the argument names.
        const audit = await gw.admin<{
          items: { target: { id: string }; after: { gateway?: Record<string, unknown> } }[];
        }>('GET', '/v1/audit?type=decision.deny&limit=100');
        const denied = audit.items.find((event) => event.target.id === refused.data?.['recordId']);
        assert.ok(denied, 'no audit record of the refusal');
        assert.equal(denied.after.gateway?.['operation'], 'refund');
        assert.deepEqual(denied.after.gateway?.['argumentNames'], ['id', 'amount']);
      } finally {
        await client.close();
      }
      assert.equal(gw.upstream.toolCalls.length, calls);
      assert.ok(!gw.upstream.toolCalls.some((call) => call.name === 'refund'));
    });

    it('refuses the second call after the token is revoked between two calls', async () => {
      const token = await gw.token();
      const client = await connect(url(), token);
      try {
        await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
        const calls = gw.upstream.toolCalls.length;
        await gw.admin('POST', '/v1/revocations', {
          kind: 'token',
          jti: claimsOf(token)['jti'],
          reason: 'test',
        });
        await assert.rejects(client.callTool({ name: 'lookup_order', arguments: { id: '2' } }));
        assert.equal(gw.upstream.toolCalls.length, calls);
      } finally {
        await client.close();
      }
    });

    it('refuses the second call after the task is completed between two calls', async () => {
      const task = await gw.admin<{ id: string }>('POST', '/v1/tasks', {
        identity: gw.identity,
        deadlineSeconds: 600,
      });
      const token = await gw.token({ task: task.id });
      const client = await connect(url(), token);
      try {
        await client.callTool({ name: 'lookup_order', arguments: { id: '1' } });
        const calls = gw.upstream.toolCalls.length;
        await gw.admin('POST', `/v1/tasks/${task.id}/complete`, undefined, 200);
        await assert.rejects(client.callTool({ name: 'lookup_order', arguments: { id: '2' } }));
        assert.equal(gw.upstream.toolCalls.length, calls);
      } finally {
        await client.close();
      }
    });

    it('serves one MCP client from two replicas alternately, without sticky sessions', async () => {
      const [a, b] = gw.replicas;
      assert.ok(a && b);
      const served = { a: 0, b: 0 };
      let next = 0;
      // Every request of the client goes to the other replica than the one before.
      const alternate: typeof fetch = (input, init) => {
        const target = new URL(input instanceof Request ? input.url : input.toString());
        const replica = next++ % 2 === 0 ? a : b;
        served[replica === a ? 'a' : 'b'] += 1;
        const moved = new URL(target.pathname + target.search, replica.url);
        return fetch(moved, init);
      };
      const client = await connect(a.url, await gw.token(), alternate);
      try {
        for (let i = 0; i < 4; i += 1) {
          const { tools } = await client.listTools();
          assert.deepEqual(
            tools.map((tool) => tool.name),
            ['lookup_order'],
          );
          const result = await client.callTool({ name: 'lookup_order', arguments: { id: `${i}` } });
          assert.equal(result.isError, undefined);
          await refusal(client.callTool({ name: 'refund', arguments: { id: '1', amount: 1 } }));
        }
      } finally {
        await client.close();
      }
      assert.ok(served.a >= 4 && served.b >= 4, JSON.stringify(served));
    });

    it('answers 401 with WWW-Authenticate pointing at its protected-resource metadata', async () => {
      const endpoint = `${url()}/gw/mcp/${UPSTREAM}`;
      const metadataUrl = `${ISSUER}/.well-known/oauth-protected-resource/gw/mcp/${UPSTREAM}`;
      const message = {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/list',
        params: {},
      };
      const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      };
      const bare = await fetch(endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(message),
      });
      assert.equal(bare.status, 401);
      assert.equal(
        bare.headers.get('www-authenticate'),
        `Bearer resource_metadata="${metadataUrl}"`,
      );

      // A token for Steward's own API is not a token for this upstream.
      const wrong = await fetch(endpoint, {
        method: 'POST',
        headers: { ...headers, authorization: `Bearer ${await gw.token({ audience: 'steward' })}` },
        body: JSON.stringify(message),
      });
      assert.equal(wrong.status, 401);
      const challenge = wrong.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer resource_metadata="[^"]+", error="invalid_token"/);
      assert.equal(((await wrong.json()) as { error: string }).error, 'invalid_token');

      // An admin API key is not accepted here either.
      const key = await fetch(endpoint, {
        method: 'POST',
        headers: { ...headers, authorization: 'Bearer stw_key_not_for_the_gateway' },
        body: JSON.stringify(message),
      });
      assert.equal(key.status, 401);

      const metadata = await fetch(
        `${url()}/.well-known/oauth-protected-resource/gw/mcp/${UPSTREAM}`,
      );
      assert.equal(metadata.status, 200);
      assert.deepEqual(await metadata.json(), {
        resource: `${ISSUER}/gw/mcp/${UPSTREAM}`,
        authorization_servers: [ISSUER],
        bearer_methods_supported: ['header'],
        resource_name: `${UPSTREAM} (MCP, through Steward's gateway)`,
      });
    });

    it('accepts a token issued for the gateway URL as RFC 8707 resource names it', async () => {
      const token = await gw.token({ audience: `${ISSUER}/gw/mcp/${UPSTREAM}` });
      const client = await connect(url(), token);
      try {
        const { tools } = await client.listTools();
        assert.deepEqual(
          tools.map((tool) => tool.name),
          ['lookup_order'],
        );
      } finally {
        await client.close();
      }
    });

    it('answers GET and DELETE without a session with 405, and without a token with 401', async () => {
      const token = await gw.token();
      for (const method of ['GET', 'DELETE']) {
        const anonymous = await fetch(`${url()}/gw/mcp/${UPSTREAM}`, { method });
        assert.equal(anonymous.status, 401);
        const response = await fetch(`${url()}/gw/mcp/${UPSTREAM}`, {
          method,
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        });
        assert.equal(response.status, 405);
        assert.equal(response.headers.get('allow'), 'POST');
      }
    });

    it('refuses a session stream policy does not permit with the catalog refusal: 403, -32011, {code, status, recordId}', async () => {
      const token = await gw.token();
      const client = await connect(url(), token);
      try {
        const sessionId = (client.transport as { sessionId?: string } | undefined)?.sessionId;
        assert.ok(sessionId !== undefined, 'the gateway gave the agent a session');
        // The fixture's policies permit no `listen`.
        const response = await fetch(`${url()}/gw/mcp/${UPSTREAM}`, {
          method: 'GET',
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'text/event-stream',
            'mcp-session-id': sessionId,
          },
        });
        assert.equal(response.status, 403);
        const body = (await response.json()) as {
          error: { code: number; message: string; data: Record<string, unknown> };
        };
        assert.equal(body.error.code, -32011);
        const { recordId, ...data } = body.error.data;
        assert.deepEqual(data, { code: 'forbidden', status: 403 });
        assert.equal(typeof recordId, 'string');
      } finally {
        await client.close();
      }
    });
  });
}
