/**
 * OpenTelemetry: with STEWARD_OTLP_ENDPOINT set, gateway calls become spans exported over
 * OTLP/HTTP (JSON), received here by a loopback collector started by the test.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { testDatabases } from '../../support/databases.js';
import { startGateway, UPSTREAM } from './fixture.js';

interface OtlpSpan {
  name: string;
  traceId: string;
  parentSpanId?: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}

test('gateway calls are exported as spans with the GenAI/MCP names and the caller trace', async () => {
  const spans: OtlpSpan[] = [];
  const contentTypes: string[] = [];
  const collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      contentTypes.push(String(req.headers['content-type']));
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans)
          for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const { port } = collector.address() as AddressInfo;
  const [database] = await testDatabases();
  assert.ok(database);
  const g = await startGateway(database, {}, { otlpEndpoint: `http://127.0.0.1:${port}` });
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  try {
    const token = await g.token();
    const response = await request(`${g.url}/gw/http/${UPSTREAM}/invoices`, {
      headers: {
        authorization: `Bearer ${token}`,
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      },
    });
    await response.body.text();
    assert.equal(response.statusCode, 200);
    // An MCP tool call through the same core: the span is named for the tool.
    await g.core.gateway.check({
      token,
      upstream: UPSTREAM,
      action: 'invoke_tool',
      operation: 'lookup_order',
      clientAddress: '127.0.0.1',
      requestId: 'r-1',
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
  } finally {
    // Stopping the core flushes the exporter.
    await g.close();
    collector.close();
  }
  assert.ok(contentTypes.includes('application/json'), `sent ${contentTypes.join(', ')}`);
  const http = spans.find((s) => s.name === `GET ${UPSTREAM}`);
  assert.ok(http, `spans: ${spans.map((s) => s.name).join(', ')}`);
  assert.equal(http.traceId, traceId);
  assert.equal(http.parentSpanId, '00f067aa0ba902b7');
  const tool = spans.find((s) => s.name === 'execute_tool lookup_order');
  assert.ok(tool, `spans: ${spans.map((s) => s.name).join(', ')}`);
  const attrs = Object.fromEntries(tool.attributes.map((a) => [a.key, a.value.stringValue]));
  assert.equal(attrs['gen_ai.tool.name'], 'lookup_order');
  assert.equal(attrs['gen_ai.operation.name'], 'execute_tool');
  assert.equal(attrs['mcp.method.name'], 'tools/call');
});
