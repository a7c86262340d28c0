import { isIP, type LookupFunction } from 'node:net';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { Agent } from 'undici';
import type { EgressCheck } from '../../upstreams/index.js';
import type { BodyScrubber } from '../scrub.js';

/** A body that grew past its limit while streaming. */
export class BodyLimitError extends Error {
  constructor(
    readonly side: 'request' | 'response',
    readonly limit: number,
  ) {
    super(`the ${side} body is larger than ${limit} bytes`);
    this.name = 'BodyLimitError';
  }
}

/** A body on its way through the gateway: counted, bounded, and its start kept for the record. */
export type BodyMeter = Transform & {
  /** Bytes that have passed so far. */
  readonly bytes: () => number;
  /** The first bytes as text (with a mark when cut), or undefined when nothing passed. */
  readonly text: () => string | undefined;
};

/**
 * Passes a body through as it arrives, counting it, failing it with {@link BodyLimitError} once
 * more than `limit` bytes have passed, scrubbing it when given a `scrub` (the injected secret on
 * its way back), and keeping a copy of the first `keep` bytes (as passed on) for the credential
 * scanner and the record (bounded copies, never buffering the stream). One transform does all
 * of it: each stream in a chain costs its own buffering, events and teardown per call.
 */
export function meterBody(
  side: 'request' | 'response',
  limit: number,
  keep: number,
  scrub?: BodyScrubber,
): BodyMeter {
  let bytes = 0;
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  const copy = (chunk: Buffer): void => {
    if (kept < keep) {
      const part = chunk.subarray(0, keep - kept);
      chunks.push(part);
      kept += part.length;
      if (part.length < chunk.length) truncated = true;
    } else if (chunk.length > 0) {
      truncated = true;
    }
  };
  const transform = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      bytes += chunk.length;
      if (bytes > limit) {
        callback(new BodyLimitError(side, limit));
        return;
      }
      const out = scrub === undefined ? chunk : scrub.push(chunk);
      copy(out);
      // Empty when the scrubber holds the whole chunk back: nothing to pass on yet.
      if (out.length > 0) callback(null, out);
      else callback();
    },
    flush(callback: TransformCallback) {
      // What the scrubber held back, in case it was the start of the secret: it was not.
      const rest = scrub?.end();
      if (rest !== undefined && rest.length > 0) {
        copy(rest);
        callback(null, rest);
        return;
      }
      callback();
    },
  });
  return Object.assign(transform, {
    bytes: () => bytes,
    text: () =>
      kept === 0
        ? undefined
        : `${Buffer.concat(chunks).toString('utf8')}${truncated ? ' …[truncated]' : ''}`,
  });
}

/**
 * `source` into `meter`; `done` hears the first error or the end. Lighter than `stream.pipeline`,
 * which tears every stream down with a fresh error on each successful end; the consumer of
 * `meter` (undici, Fastify) owns its own end.
 *
 * When the meter fails (over the limit) or is closed early, an upstream's answer (`source:
 * 'upstream'`) is destroyed, freeing its connection; an agent's request is only detached, so
 * that the gateway can still answer 413 on its connection (and then close it).
 */
export function passThrough(
  source: Readable,
  meter: BodyMeter,
  from: 'agent' | 'upstream',
  done: (error: Error | undefined) => void,
): void {
  const release = () => {
    if (source.readableEnded) return;
    if (from === 'upstream') source.destroy();
    else source.unpipe(meter);
  };
  let settled = false;
  const settle = (error: Error | undefined) => {
    if (settled) return;
    settled = true;
    done(error);
  };
  source.once('error', (error: Error) => {
    meter.destroy(error);
    settle(error);
  });
  meter.once('error', (error: Error) => {
    release();
    settle(error);
  });
  meter.once('end', () => settle(undefined));
  // The consumer went away (the agent hung up, the upstream refused the body): stop reading.
  meter.once('close', release);
  source.pipe(meter);
}

export interface ForwardRequest {
  /** `http(s)://host:port` of the upstream. */
  readonly origin: URL;
  /** Path and query exactly as forwarded: never re-parsed, so never re-normalised. */
  readonly path: string;
  readonly method: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Readable | undefined;
  readonly timeoutMs: number;
}

export interface ForwardResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Readable;
}

/** Why forwarding failed, as the gateway reports it. */
export type ForwardFailure = 'upstream_timeout' | 'upstream_unavailable' | 'payload_too_large';

export interface HttpForwarder {
  /** @throws the undici or egress error; {@link classifyForwardError} names it. */
  forward(request: ForwardRequest): Promise<ForwardResponse>;
  close(): Promise<void>;
}

/** Raised by the connect-time egress check. */
export class EgressRefusedError extends Error {
  readonly code = 'STEWARD_EGRESS_REFUSED';
  constructor(reason: string) {
    super(`egress refused: ${reason}`);
    this.name = 'EgressRefusedError';
  }
}

/**
 * An undici agent whose connections go only where the egress guard allows: the guard runs again
 * when a connection is made, on the addresses the name resolves to then, and the socket goes to
 * an address that passed the check. A name that resolved to a public address at registration and
 * to 169.254.169.254 now (DNS rebinding) is refused here. An address written in the URL is never
 * looked up, so callers check those themselves, before each request.
 */
export function createEgressAgent(options: {
  /** The upstream registry's egress check: current allowlist, the configured resolver. */
  readonly egress: (url: string) => Promise<EgressCheck>;
  readonly connectTimeoutMs?: number;
}): Agent {
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    const host = isIP(hostname) === 6 ? `[${hostname}]` : hostname;
    options.egress(`http://${host}/`).then(
      (check) => {
        if (!check.ok) {
          callback(new EgressRefusedError(check.reason), '', 4);
          return;
        }
        const addresses = check.addresses.map((address) => ({
          address,
          family: isIP(address) === 6 ? 6 : 4,
        }));
        const first = addresses[0];
        if (lookupOptions.all === true) callback(null, addresses);
        else if (first) callback(null, first.address, first.family);
        else callback(new EgressRefusedError(`${hostname} does not resolve`), '', 4);
      },
      (error: unknown) => {
        callback(error instanceof Error ? error : new Error(String(error)), '', 4);
      },
    );
  };
  return new Agent({
    connect: { lookup, timeout: options.connectTimeoutMs ?? 10_000 },
    keepAliveTimeout: 10_000,
  });
}

/** Forwards with undici through one egress-guarded agent (a connection pool per upstream origin). */
export function createHttpForwarder(options: {
  /** The upstream registry's egress check: current allowlist, the configured resolver. */
  readonly egress: (url: string) => Promise<EgressCheck>;
  readonly connectTimeoutMs?: number;
}): HttpForwarder {
  const agent = createEgressAgent(options);
  // No redirect interceptor on purpose: a 3xx goes back to the agent, whose next call is
  // decided anew, rather than being followed to wherever the upstream points.

  return {
    async forward(req) {
      // An address in the URL is never looked up, so it is checked here, on every call: an admin
      // may have withdrawn the allowance since the upstream was registered.
      if (isIP(req.origin.hostname.replace(/^\[|\]$/g, '')) !== 0) {
        const check = await options.egress(req.origin.href);
        if (!check.ok) throw new EgressRefusedError(check.reason);
      }
      const response = await agent.request({
        origin: req.origin,
        path: req.path,
        method: req.method,
        headers: req.headers,
        body: req.body ?? null,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
      return {
        status: response.statusCode,
        headers: response.headers,
        body: response.body,
      };
    },
    close: () => agent.close(),
  };
}

/** What a forwarding error means for the agent: a timeout, an unreachable upstream, or our limit. */
export function classifyForwardError(error: unknown): {
  readonly code: ForwardFailure;
  readonly detail: string;
} {
  if (error instanceof BodyLimitError) return { code: 'payload_too_large', detail: error.message };
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (cause instanceof BodyLimitError) return { code: 'payload_too_large', detail: cause.message };
  const code = (error as { code?: unknown } | null)?.code;
  const text = typeof code === 'string' ? code : error instanceof Error ? error.name : 'error';
  if (
    text === 'UND_ERR_HEADERS_TIMEOUT' ||
    text === 'UND_ERR_BODY_TIMEOUT' ||
    text === 'UND_ERR_CONNECT_TIMEOUT' ||
    text === 'ETIMEDOUT'
  ) {
    return { code: 'upstream_timeout', detail: text };
  }
  return { code: 'upstream_unavailable', detail: text };
}
