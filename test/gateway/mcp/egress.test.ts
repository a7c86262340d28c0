/**
 * The MCP gateway's upstream leg connects only where the egress guard allows, when it connects:
 * the socket goes to the address the guard approved (not to a second lookup of the name), so a
 * name that rebinds to the metadata address between the guard's check and the connection is
 * refused, as on the HTTP gateway. The resolver is the test's (`rebind.test` is not in DNS).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { testDatabases } from '../../support/databases.js';
import { connect, refusal, startGateway } from './fixture.js';
import { posts, startMcpUpstream } from './upstream-server.js';

describe('MCP gateway egress at connect time (sqlite)', async () => {
  const [database] = await testDatabases();
  assert.ok(database);

  test('connects to the checked address, and refuses a name that rebinds to metadata at connect time', async () => {
    let lookups = 0;
    let rebinding = false;
    const g = await startGateway(database, 1, {
      // Rebinding: the check before each request sees loopback (allowed by the fixture), the
      // lookup made when connecting sees the metadata address.
      resolveHost: async (host) => {
        if (host !== 'rebind.test') return ['127.0.0.1'];
        lookups += 1;
        return rebinding && lookups % 2 === 0 ? ['169.254.169.254'] : ['127.0.0.1'];
      },
    });
    let server = await startMcpUpstream();
    try {
      await g.admin('POST', '/v1/upstreams', {
        name: 'rebound',
        kind: 'mcp',
        url: server.url.replace('127.0.0.1', 'rebind.test'),
        team: 'payments',
        classification: 'internal',
        credential: { secret: 'orders-key', in: 'header', name: 'x-api-key', format: '{secret}' },
        timeoutMs: 2_000,
      });
      await g.admin('PUT', '/v1/policies', {
        policies: 'permit(principal, action, resource in Steward::Upstream::"rebound");',
        message: 'rebinding test',
      });
      const token = await g.token({ audience: 'rebound' });
      const client = await connect(g.replicas[0]?.url ?? '', token, undefined, 'rebound');
      try {
        // `rebind.test` resolves nowhere but in the guard: the call only works because the
        // connection goes to the address the guard returned.
        const ok = await client.callTool({ name: 'lookup_order', arguments: { id: 'o-1' } });
        assert.notEqual(ok.isError, true);
        assert.equal(posts(server, 'tools/call').length, 1);

        // A restart drops the kept-alive connection, so the next call connects anew.
        const port = server.port;
        await server.close();
        server = await startMcpUpstream({ port });
        rebinding = true;
        lookups = 0;
        const refused = await refusal(
          client.callTool({ name: 'lookup_order', arguments: { id: 'o-2' } }),
        );
        assert.equal(refused.data?.['code'], 'upstream_unavailable');
        assert.ok(lookups >= 2, `the guard ran before the request and at connect (${lookups})`);
        assert.equal(server.requests.length, 0, 'nothing reached the upstream');
      } finally {
        await client.close();
      }
    } finally {
      await g.close();
      await server.close();
    }
  });
});
