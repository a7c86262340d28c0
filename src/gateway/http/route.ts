import { performance } from 'node:perf_hooks';
import type { Readable, Transform } from 'node:stream';
import { constants as zlib, createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerCredential } from '../../shared/bearer.js';
import type { EgressCheck } from '../../upstreams/index.js';
import { REFUSAL_CATALOG } from '../refusals.js';
import type { EnforcementCore, GatewayCall, GatewayRefused } from '../types.js';
import {
  BodyLimitError,
  classifyForwardError,
  createHttpForwarder,
  meterBody,
  passThrough,
  type BodyMeter,
} from './forward.js';
import { agentResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { createScrubber } from '../scrub.js';
import { matchOperation, parseGatewayTarget } from './path.js';

export interface HttpGatewayOptions {
  readonly gateway: EnforcementCore;
  /** The registry's egress check, re-run when the gateway connects. */
  readonly checkEgress: (url: string) => Promise<EgressCheck>;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * The HTTP gateway, `ANY /gw/http/<upstream>/<path>`: a thin adapter over the enforcement core.
 * The body is not parsed: it streams to the upstream (and the answer back) under the upstream's
 * size limits. The route carries no `roles`, so the admin authentication plugin leaves it to
 * the core, which accepts access tokens for this upstream only.
 */
export async function httpGatewayRoutes(
  app: FastifyInstance,
  options: HttpGatewayOptions,
): Promise<void> {
  const { gateway } = options;
  const forwarder = createHttpForwarder({ egress: options.checkEgress });
  app.addHook('onClose', async () => {
    await forwarder.close();
  });
  // Bodies pass through untouched: no parser reads them (this plugin's scope only).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => {
    done(null);
  });

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const started = performance.now();
    const raw = request.raw;
    const token = bearerCredential(raw.headers.authorization);
    const traceparent = single(raw.headers['traceparent']);
    const parsed = parseGatewayTarget(raw.url ?? '');
    const upstreamName = /^\/gw\/http\/([^/?]*)/.exec(raw.url ?? '')?.[1] ?? '';
    const base = {
      token,
      upstream: upstreamName,
      action: 'http_request',
      method: request.method,
      clientAddress: request.ip,
      requestId: request.id,
      receivedAt: started,
      ...(traceparent !== undefined ? { traceparent } : {}),
    };
    if (!parsed.ok) {
      const refused = await gateway.reject(
        { ...base, operation: '', path: '' },
        'bad_request',
        `The path is refused: ${parsed.reason}.`,
      );
      return refuse(reply, refused);
    }
    const { target } = parsed;
    // No valid token: refused before any lookup, at the cost of a counter.
    const caller = gateway.authenticate({
      ...base,
      upstream: target.upstream,
      operation: '',
      path: target.path,
    });
    if (caller.outcome === 'refuse') return refuse(reply, caller);
    const lengthHeader = raw.headers['content-length'];
    const declaredBytes =
      lengthHeader !== undefined && /^\d{1,15}$/.test(lengthHeader)
        ? Number(lengthHeader)
        : undefined;
    const chunked = raw.headers['transfer-encoding'] !== undefined;
    const hasBody = chunked || (declaredBytes !== undefined && declaredBytes > 0);
    const call: GatewayCall = {
      ...base,
      upstream: target.upstream,
      operation: matchOperation([], request.method, target.path),
      // Named by the upstream's declared operations once the core has looked it up (bounded).
      operationOf: (upstream) => matchOperation(upstream.operations, request.method, target.path),
      path: target.path,
      arguments: target.parameters,
      ...(declaredBytes !== undefined ? { declaredBytes } : {}),
    };
    const verdict = await gateway.check(call);
    if (verdict.outcome === 'refuse') return refuse(reply, verdict);

    const { upstream, recordId } = verdict;
    const finish = (
      status: number,
      bytes: number,
      error?: string,
      content?: unknown,
      secretEchoed?: readonly string[],
    ): Promise<void> =>
      gateway.complete({
        recordId,
        status,
        bytes,
        latencyMs: Math.round(performance.now() - started),
        ...(error !== undefined ? { error } : {}),
        ...(content !== undefined ? { content } : {}),
        ...(secretEchoed !== undefined && secretEchoed.length > 0 ? { secretEchoed } : {}),
      });
    // The injected secret, in every form it may come back in, is scrubbed from the answer.
    const scrubber = createScrubber(verdict.inject.scrub);

    const baseUrl = new URL(upstream.url);
    const prefix = baseUrl.pathname.replace(/\/+$/, '');
    const query = withInjectedQuery(target.query, verdict.inject.query);
    const path = `${prefix}${target.path}${query === '' ? '' : `?${query}`}`;
    // Nothing goes upstream for a client that has gone or a call whose deadline has passed.
    const stopped = gateway.beforeForward(verdict, { gone: reply.raw.destroyed });
    if (stopped !== undefined) return refuse(reply, stopped);
    let body: Readable | undefined;
    // Bodies are scanned for credentials as they pass (bounded copies, not buffering): a leak
    // is found, redacted in the record and, for Steward's own credentials, revoked.
    let requestMeter: BodyMeter | undefined;
    if (hasBody) {
      requestMeter = meterBody('request', upstream.maxRequestBytes, SCAN_BYTES);
      body = requestMeter;
      passThrough(raw, requestMeter, 'agent', () => {});
    }
    const headers = upstreamRequestHeaders(raw.headers, {
      inject: verdict.inject.headers,
      clientAddress: request.ip,
      protocol: request.protocol,
      host: single(raw.headers.host),
      requestId: request.id,
      traceparent: verdict.traceparent,
      contentLength: chunked ? undefined : declaredBytes,
    });
    // An answer compressed by the upstream could carry the secret past the scrubber: ask for
    // none (and decode one that comes anyway, below).
    if (scrubber.active) headers['accept-encoding'] = 'identity';

    let response;
    try {
      response = await forwarder.forward({
        origin: new URL(baseUrl.origin),
        path,
        method: request.method,
        headers,
        body,
        timeoutMs: upstream.timeoutMs,
      });
    } catch (error) {
      const failure =
        requestMeter !== undefined && requestMeter.bytes() > upstream.maxRequestBytes
          ? { code: 'payload_too_large' as const, detail: 'request body over limit' }
          : classifyForwardError(error);
      await finish(REFUSAL_CATALOG[failure.code].status, 0, `${failure.code}: ${failure.detail}`);
      // The agent's body may be partly unread: close the connection rather than reuse it.
      if (failure.code === 'payload_too_large') reply.header('connection', 'close');
      return refuse(reply, {
        code: failure.code,
        message:
          failure.code === 'payload_too_large'
            ? `The request body is larger than ${upstream.maxRequestBytes} bytes.`
            : failure.code === 'upstream_timeout'
              ? 'The upstream did not answer in time.'
              : 'The upstream could not be reached.',
        recordId,
      });
    }

    const declaredResponse = Number(single(response.headers['content-length']) ?? Number.NaN);
    if (Number.isFinite(declaredResponse) && declaredResponse > upstream.maxResponseBytes) {
      discard(response.body);
      await finish(502, 0, 'response_too_large');
      return refuse(reply, {
        code: 'response_too_large',
        message: `The upstream's answer is larger than ${upstream.maxResponseBytes} bytes.`,
        recordId,
      });
    }
    let source: Readable = response.body;
    const agentHeaders = agentResponseHeaders(response.headers);
    // HEAD, 204 and 304 answers have no body to decode.
    const bodyless =
      request.method === 'HEAD' || response.status === 204 || response.status === 304;
    if (scrubber.active && !bodyless) {
      const encoding = (single(response.headers['content-encoding']) ?? '').trim().toLowerCase();
      if (encoding !== '' && encoding !== 'identity') {
        const decoder = decoderFor(encoding);
        if (decoder === undefined) {
          discard(response.body);
          await finish(502, 0, `upstream_unavailable: unscannable content-encoding`);
          return refuse(reply, {
            code: 'upstream_unavailable',
            message: `The upstream's answer is in an encoding the gateway cannot check for its credential.`,
            recordId,
          });
        }
        response.body.once('error', (error: Error) => decoder.destroy(error));
        decoder.once('close', () => discard(response.body));
        source = response.body.pipe(decoder);
        delete agentHeaders['content-encoding'];
        delete agentHeaders['content-length'];
      }
    }
    const scrubbedHeaders = scrubber.headers(agentHeaders);
    const bodyScrubber = scrubber.active ? scrubber.body() : undefined;
    const responseMeter = meterBody(
      'response',
      upstream.maxResponseBytes,
      SCAN_BYTES,
      bodyScrubber,
    );
    let streamError: string | undefined;
    passThrough(source, responseMeter, 'upstream', (error) => {
      if (error) {
        streamError =
          error instanceof BodyLimitError ? 'response_too_large' : classifyForwardError(error).code;
      }
    });
    let recorded = false;
    const record = (): void => {
      if (recorded) return;
      recorded = true;
      const aborted = !reply.raw.writableFinished;
      const requestText = requestMeter?.text();
      const responseText = responseMeter.text();
      const echoed = [
        ...(scrubbedHeaders.found ? ['response.headers'] : []),
        ...(bodyScrubber?.found() === true ? ['response.body'] : []),
      ];
      void finish(
        response.status,
        responseMeter.bytes(),
        streamError ?? (aborted ? 'aborted' : undefined),
        {
          // Headers too are scanned for credentials (and recorded with `recordContent`).
          responseHeaders: scrubbedHeaders.headers,
          ...(requestText !== undefined ? { request: requestText } : {}),
          ...(responseText !== undefined ? { response: responseText } : {}),
        },
        echoed,
      );
    };
    reply.raw.once('close', record);
    reply.raw.once('finish', record);
    reply
      .code(response.status)
      .headers(scrubbedHeaders.headers)
      .header('x-steward-record', recordId);
    return reply.send(responseMeter);
  }

  for (const url of ['/gw/http/:upstream', '/gw/http/:upstream/*']) {
    app.route({
      method: METHODS,
      url,
      exposeHeadRoute: false,
      schema: { hide: true },
      handler: handle,
    });
  }
}

/** How much of each body is kept for the scanner and the record. */
const SCAN_BYTES = 256 * 1024;

/**
 * A refusal as the problem document the agent receives: status and title from the catalogue,
 * sent by the one problem renderer.
 */
function refuse(
  reply: FastifyReply,
  refused: Pick<GatewayRefused, 'code' | 'message' | 'retryAfterSeconds' | 'recordId'>,
): void {
  const { status, title } = REFUSAL_CATALOG[refused.code];
  void reply.problem({
    code: refused.code,
    status,
    title,
    message: refused.message,
    retryAfterSeconds: refused.retryAfterSeconds,
    recordId: refused.recordId,
    challenge: 'Bearer realm="steward", error="invalid_token"',
  });
}

/**
 * Drops an upstream's answer unread, freeing its connection. undici reports an answer destroyed
 * before its end as an `error` ("Request aborted"): expected here, so it is heard and let go.
 */
function discard(body: Readable): void {
  body.once('error', () => {});
  body.destroy();
}

/** A decoder for a `Content-Encoding` the upstream sent although asked for none. */
function decoderFor(encoding: string): Transform | undefined {
  // Lenient about a body that ends early (or is empty), as browsers and fetch are.
  if (encoding === 'gzip' || encoding === 'x-gzip') {
    return createGunzip({ finishFlush: zlib.Z_SYNC_FLUSH });
  }
  if (encoding === 'deflate') return createInflate({ finishFlush: zlib.Z_SYNC_FLUSH });
  if (encoding === 'br') {
    return createBrotliDecompress({ finishFlush: zlib.BROTLI_OPERATION_FLUSH });
  }
  return undefined;
}

/** The agent's query with any parameter named like an injected one removed, then the injection. */
function withInjectedQuery(query: string, inject: Readonly<Record<string, string>>): string {
  // In any letter case: case-insensitive servers would read the agent's as the credential.
  const names = new Set(Object.keys(inject).map((name) => name.toLowerCase()));
  const kept =
    names.size === 0 || query === ''
      ? query === ''
        ? []
        : query.split('&')
      : query.split('&').filter((part) => {
          const name = part.split('=')[0] ?? '';
          let decoded: string;
          try {
            decoded = decodeURIComponent(name.replace(/\+/g, ' '));
          } catch {
            return false;
          }
          return !names.has(decoded.toLowerCase());
        });
  const added = Object.entries(inject).map(
    ([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`,
  );
  return [...kept, ...added].join('&');
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
