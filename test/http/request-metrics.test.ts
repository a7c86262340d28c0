/**
 * The request metrics kept outside prom-client on the request path: at a scrape they must read
 * exactly as prom-client's own Counter and Histogram fed the same requests would, in the text
 * format and in the OpenMetrics one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { registerRequestMetrics } from '../../src/http/plugins/request-metrics.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const COUNTER = { name: 'steward_http_requests_total', help: 'Requests.' };
const HISTOGRAM = { name: 'steward_http_request_duration_seconds', help: 'Latency.' };
const LABELS = ['method', 'route', 'status_code'] as const;

/** A small deterministic generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('request metrics', () => {
  for (const contentType of [
    Registry.PROMETHEUS_CONTENT_TYPE,
    Registry.OPENMETRICS_CONTENT_TYPE,
  ] as RegistryContentType[]) {
    it(`read as prom-client's Counter and Histogram would (${contentType.split(';')[0] ?? ''})`, async () => {
      const ours = new Registry<RegistryContentType>();
      const theirs = new Registry<RegistryContentType>();
      ours.setContentType(contentType);
      theirs.setContentType(contentType);
      const metrics = registerRequestMetrics(ours, {
        counter: COUNTER,
        histogram: HISTOGRAM,
        buckets: BUCKETS,
      });
      const counter = new Counter({ ...COUNTER, labelNames: LABELS, registers: [theirs] });
      const histogram = new Histogram({
        ...HISTOGRAM,
        labelNames: LABELS,
        buckets: BUCKETS,
        registers: [theirs],
      });
      // Nothing recorded yet: the same empty families.
      assert.equal(await ours.metrics(), await theirs.metrics());

      const next = random(11);
      const methods = ['GET', 'POST', 'DELETE'];
      const routes = ['/v1/services/:name', '/gw/http/:upstream/*', 'unmatched', '/say "hi"\\'];
      const statuses = [200, 201, 404, 429, 503];
      // On every bound, just above it, zero, and beyond the last bound.
      const edges = [0, ...BUCKETS, ...BUCKETS.map((b) => b + 1e-9), 7.5];
      for (let i = 0; i < 5_000; i++) {
        const method = methods[Math.floor(next() * methods.length)] ?? 'GET';
        const route = routes[Math.floor(next() * routes.length)] ?? 'unmatched';
        const status = statuses[Math.floor(next() * statuses.length)] ?? 200;
        const seconds =
          next() < 0.3 ? (edges[Math.floor(next() * edges.length)] ?? 0) : next() * next() * 3;
        metrics.record(method, route, status, seconds);
        const labels = { method, route, status_code: String(status) };
        counter.inc(labels);
        histogram.observe(labels, seconds);
        if (i === 3 || i === 4_999) assert.equal(await ours.metrics(), await theirs.metrics());
      }
      const text = await ours.metrics();
      assert.match(text, /steward_http_request_duration_seconds_bucket\{le="\+Inf",method=/);
      assert.ok(text.split('\n').length > 300, 'every label set is there');
    });
  }
});
