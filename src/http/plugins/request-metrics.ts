import type { Registry, RegistryContentType } from 'prom-client';

/**
 * The request counter and latency histogram of every HTTP request, counted without prom-client on
 * the request path. prom-client's `inc(labels)` and `observe(labels, v)` validate and hash a label
 * object on every call, and its pre-labelled children (`.labels(...)`) do the same work behind one
 * more closure (measured slower, not faster). Here a label set is found by three map lookups to a
 * record of plain numbers; prom-client's registry formats the records at each scrape, in the same
 * series a prom-client Counter and Histogram would (checked against them in the tests).
 */
export interface RequestMetrics {
  record(method: string, route: string, status: number, seconds: number): void;
}

interface Series {
  readonly labels: Readonly<Record<LabelName, string>>;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last is above every bound (+Inf). */
  readonly buckets: Float64Array;
}

type LabelName = 'method' | 'route' | 'status_code';

/** What prom-client's registry reads from a metric at each scrape. */
interface MetricValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
}

export function registerRequestMetrics(
  registry: Registry<RegistryContentType>,
  options: {
    readonly counter: { readonly name: string; readonly help: string };
    readonly histogram: { readonly name: string; readonly help: string };
    readonly buckets: readonly number[];
  },
): RequestMetrics {
  const bounds = [...options.buckets].sort((a, b) => a - b);
  // Route, then method, then status: the sets are few (route templates, the methods the HTTP
  // parser accepts, status codes), so they are kept for the life of the process.
  const byRoute = new Map<string, Map<string, Map<number, Series>>>();
  const all: Series[] = [];

  function seriesOf(method: string, route: string, status: number): Series {
    let byMethod = byRoute.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      byRoute.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let series = byStatus.get(status);
    if (series === undefined) {
      series = {
        labels: { method, route, status_code: String(status) },
        count: 0,
        sum: 0,
        buckets: new Float64Array(bounds.length + 1),
      };
      byStatus.set(status, series);
      all.push(series);
    }
    return series;
  }

  const metric = (
    name: string,
    help: string,
    type: 'counter' | 'histogram',
    values: () => MetricValue[],
  ) => {
    const self = {
      // The registry may rename it (a counter's `_total` under OpenMetrics): read at each scrape.
      name,
      help,
      type,
      aggregator: 'sum' as const,
      get: () => ({ name: self.name, help, type, aggregator: 'sum' as const, values: values() }),
      reset: () => {},
    };
    return self;
  };

  // Registered as prom-client metrics are: the registry asks each for its values at a scrape.
  registry.registerMetric(
    metric(options.counter.name, options.counter.help, 'counter', () =>
      all.map((series) => ({ labels: series.labels, value: series.count })),
    ) as unknown as Parameters<Registry<RegistryContentType>['registerMetric']>[0],
  );
  const { name } = options.histogram;
  registry.registerMetric(
    metric(name, options.histogram.help, 'histogram', () =>
      all.flatMap((series) => {
        const values: MetricValue[] = [];
        let cumulative = 0;
        bounds.forEach((bound, i) => {
          cumulative += series.buckets[i] ?? 0;
          values.push({
            labels: { le: bound, ...series.labels },
            value: cumulative,
            metricName: `${name}_bucket`,
          });
        });
        values.push(
          {
            labels: { le: '+Inf', ...series.labels },
            value: series.count,
            metricName: `${name}_bucket`,
          },
          { labels: series.labels, value: series.sum, metricName: `${name}_sum` },
          { labels: series.labels, value: series.count, metricName: `${name}_count` },
        );
        return values;
      }),
    ) as unknown as Parameters<Registry<RegistryContentType>['registerMetric']>[0],
  );

  return {
    record(method, route, status, seconds) {
      const series = seriesOf(method, route, status);
      series.count += 1;
      series.sum += seconds;
      let i = 0;
      while (i < bounds.length && seconds > (bounds[i] ?? Infinity)) i += 1;
      series.buckets[i] = (series.buckets[i] ?? 0) + 1;
    },
  };
}
