import type { FastifyInstance } from 'fastify';
import type {} from '@fastify/swagger';
import fp from 'fastify-plugin';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReplicationFailureCounts } from '../../store/index.js';
import { registerRequestMetrics } from './request-metrics.js';

/**
 * Prometheus metrics at `/metrics`: request counts and latency histograms per route template
 * (never per raw URL, which would leak ids and explode cardinality), and the failures that keep
 * this replica's caches from following the others.
 */
export const metricsPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      processMetrics: boolean;
      /** The counts since the process started, read at each scrape. */
      replicationFailures: () => ReplicationFailureCounts;
    },
  ) => {
    const registry = new Registry();
    if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'steward_' });
    const { replicationFailures } = options;
    // Counted where they happen, from the start of the process (before this app existed):
    // these counters copy those counts at each scrape.
    new Counter({
      name: 'steward_cache_refresh_failures_total',
      help: 'Failed refreshes of a replicated cache (poll or notification), by cache.',
      labelNames: ['cache'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [cache, count] of replicationFailures().refresh) this.inc({ cache }, count);
      },
    });
    new Counter({
      name: 'steward_notification_subscriptions_lost_total',
      help: "Times the subscription to other replicas' change notifications was lost.",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(replicationFailures().subscriptionsLost);
      },
    });
    new Counter({
      name: 'steward_notification_announce_failures_total',
      help: 'Changes stored here but not announced to the other replicas (seen at their next poll), by channel.',
      labelNames: ['channel'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [channel, count] of replicationFailures().announce) this.inc({ channel }, count);
      },
    });
    const requests = registerRequestMetrics(registry, {
      counter: {
        name: 'steward_http_requests_total',
        help: 'HTTP requests by route template, method and status code.',
      },
      histogram: {
        name: 'steward_http_request_duration_seconds',
        help: 'HTTP request latency by route template and method.',
      },
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    });

    app.addHook('onResponse', async (request, reply) => {
      requests.record(
        request.method,
        request.routeOptions.url ?? 'unmatched',
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
    });

    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    });
  },
  { name: 'metrics' },
);
