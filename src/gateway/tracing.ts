import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { randomHex } from '../shared/ids.js';

/** One gateway call's span: started by the core on `check`, ended on refusal or on `complete`. */
export interface GatewaySpan {
  /** The `traceparent` to send upstream: this span's, or the caller's, or a fresh one. */
  readonly traceparent: string;
  setAttributes(attributes: Attributes): void;
  end(result: { readonly status?: number; readonly error?: string }): void;
}

export interface GatewayTracer {
  /** False for the no-op tracer: callers may skip building names and attributes. */
  readonly recording: boolean;
  start(options: {
    readonly name: string;
    readonly attributes: Attributes;
    readonly traceparent: string | undefined;
  }): GatewaySpan;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** `version-traceid-parentid-flags`, W3C Trace Context level 1. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A caller's `traceparent`, when it is well formed (all-zero ids are invalid by the spec). */
export function parseTraceparent(
  value: string | undefined,
): { traceId: string; spanId: string; flags: number } | undefined {
  if (value === undefined) return undefined;
  const match = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!match) return undefined;
  const [, version, traceId = '', spanId = '', flags = '00'] = match;
  if (version === 'ff' || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

/** A `traceparent` that continues the caller's trace with a new parent id, or starts one. */
function nextTraceparent(incoming: string | undefined): string {
  const parsed = parseTraceparent(incoming);
  const traceId = parsed?.traceId ?? randomHex(16);
  const flags = (parsed?.flags ?? 0).toString(16).padStart(2, '0');
  return `00-${traceId}-${randomHex(8)}-${flags}`;
}

/** No OTLP endpoint: spans cost nothing, but the trace context still travels upstream. */
export const noopTracer: GatewayTracer = {
  recording: false,
  start({ traceparent }) {
    return { traceparent: nextTraceparent(traceparent), setAttributes() {}, end() {} };
  },
  shutdown: async () => {},
};

/**
 * Spans for gateway calls, exported over OTLP/HTTP to `endpoint` (the collector's base URL;
 * `/v1/traces` is added unless it is already there). Names and attributes follow the GenAI and
 * MCP semantic conventions: `execute_tool {tool}` with `gen_ai.tool.name`,
 * `gen_ai.operation.name` and `mcp.method.name`; HTTP calls are client spans named by method.
 */
export function createOtlpTracer(options: {
  readonly endpoint: string;
  readonly serviceName?: string;
}): GatewayTracer {
  const url = options.endpoint.replace(/\/+$/, '').endsWith('/v1/traces')
    ? options.endpoint
    : `${options.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName ?? 'steward' }),
    // A batch keeps export off the request path; its own timeout bounds each export.
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url, timeoutMillis: 10_000 }), {
        scheduledDelayMillis: 1_000,
      }),
    ],
  });
  const tracer: Tracer = provider.getTracer('steward-gateway');
  return {
    recording: true,
    start({ name, attributes, traceparent }) {
      const parent = parseTraceparent(traceparent);
      const context = parent
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: parent.traceId,
            spanId: parent.spanId,
            traceFlags: parent.flags & TraceFlags.SAMPLED,
            isRemote: true,
          })
        : ROOT_CONTEXT;
      const span: Span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, context);
      const own = span.spanContext();
      return {
        traceparent: `00-${own.traceId}-${own.spanId}-${(own.traceFlags & 1).toString(16).padStart(2, '0')}`,
        setAttributes: (more) => span.setAttributes(more),
        end({ status, error }) {
          if (status !== undefined) span.setAttribute('http.response.status_code', status);
          if (error !== undefined) {
            span.setAttribute('error.type', error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: error });
          }
          span.end();
        },
      };
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}
