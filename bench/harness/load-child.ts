/**
 * The load generator's process (see `load.ts`): HTTP requests through an undici pool, MCP
 * `tools/call` through the official SDK client over Streamable HTTP. Not a scenario: forked by
 * `startLoadGenerator`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { Agent, request } from 'undici';
import type {
  ChildMessage,
  HttpBody,
  LoadJob,
  LoadMode,
  LoadResult,
  LoadTarget,
  ParentMessage,
} from './load.js';

/** One request: resolves to `ok` or to the kind of failure. */
type Send = (call: number) => Promise<string>;

interface Prepared {
  readonly target: LoadTarget;
  readonly send: Send;
  close(): Promise<void>;
}

let prepared: Prepared | undefined;
/** Assertions signed during the current run (see `HttpBody`). */
let signedDuringRun = 0;

/** What one request sends, and what to do with its answer. */
interface BodyStep {
  readonly contentType: string;
  readonly text: string;
  /** Called with the answer's text when the status is 2xx, and with undefined otherwise. */
  settle?(answer: string | undefined): void;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A body source: `next(call)` gives request `call`'s body, or a failure kind. */
function bodySource(body: HttpBody): {
  next(call: number): BodyStep | string;
  wantsAnswer: boolean;
} {
  if (body.type === 'fixed') {
    const step = { contentType: body.contentType, text: body.text };
    return { next: () => step, wantsAnswer: false };
  }
  if (body.type === 'cycle') {
    const steps = body.texts.map((text) => ({ contentType: body.contentType, text }));
    return { next: (call) => steps[call % steps.length] ?? 'no body', wantsAnswer: false };
  }
  if (body.type === 'renewal') {
    const free = [...body.tokens];
    return {
      wantsAnswer: true,
      next() {
        const token = free.pop();
        if (token === undefined) return 'no token free';
        return {
          contentType: 'application/x-www-form-urlencoded',
          text: new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            subject_token: token,
            subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          }).toString(),
          settle(answer) {
            let renewed: unknown;
            try {
              renewed =
                answer === undefined
                  ? undefined
                  : (JSON.parse(answer) as { access_token?: unknown }).access_token;
            } catch {
              renewed = undefined;
            }
            // A failed renewal leaves its token usable for another try.
            free.push(typeof renewed === 'string' ? renewed : token);
          },
        };
      },
    };
  }
  const key: KeyObject = createPrivateKey(body.privateKeyPem);
  const header = b64({ alg: 'EdDSA', typ: 'JWT', kid: body.kid });
  const signOne = (): string => {
    const now = Math.floor(Date.now() / 1000);
    const input = `${header}.${b64({
      iss: body.clientId,
      sub: body.clientId,
      aud: body.audience,
      jti: randomUUID(),
      iat: now,
      exp: now + 600,
    })}`;
    const assertion = `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
    return new URLSearchParams({
      ...body.form,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString();
  };
  const presigned = Array.from({ length: body.presign }, signOne);
  presigned.reverse();
  return {
    wantsAnswer: false,
    next() {
      let text = presigned.pop();
      if (text === undefined) {
        signedDuringRun += 1;
        text = signOne();
      }
      return { contentType: 'application/x-www-form-urlencoded', text };
    },
  };
}

/** The JSON-RPC message of an MCP answer, sent as JSON or as one server-sent event. */
function jsonRpcOf(text: string): { result?: Record<string, unknown>; error?: { code?: number } } {
  const data = text.trimStart().startsWith('{') ? text : (/^data: ?(.*)$/m.exec(text)?.[1] ?? '{}');
  return JSON.parse(data) as { result?: Record<string, unknown>; error?: { code?: number } };
}

/** `tools/call` over Streamable HTTP with undici, one session per header set (see `LoadTarget`). */
async function prepareRawMcp(target: Extract<LoadTarget, { kind: 'mcp' }>): Promise<Prepared> {
  const dispatcher = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
  const url = new URL(target.url);
  const base = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  const sessions: Record<string, string>[] = [];
  for (const headers of target.headers) {
    const init = await request(url, {
      method: 'POST',
      headers: { ...base, ...headers },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: 'bench-agent', version: '1.0.0' },
        },
      }),
      dispatcher,
    });
    const text = await init.body.text();
    const version = jsonRpcOf(text).result?.['protocolVersion'];
    if (init.statusCode !== 200 || typeof version !== 'string') {
      throw new Error(`MCP initialize: ${init.statusCode} ${text.slice(0, 200)}`);
    }
    const session = init.headers['mcp-session-id'];
    const sessionHeaders = {
      ...base,
      ...headers,
      'mcp-protocol-version': version,
      ...(typeof session === 'string' ? { 'mcp-session-id': session } : {}),
    };
    const initialized = await request(url, {
      method: 'POST',
      headers: sessionHeaders,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      dispatcher,
    });
    await initialized.body.arrayBuffer();
    if (initialized.statusCode >= 300) {
      throw new Error(`MCP notifications/initialized: ${initialized.statusCode}`);
    }
    sessions.push(sessionHeaders);
  }
  const params = { name: target.tool, arguments: { ...target.arguments } };
  const send: Send = async (call) => {
    const headers = sessions[call % sessions.length] ?? {};
    const response = await request(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: call + 1, method: 'tools/call', params }),
      dispatcher,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) return `status ${response.statusCode}`;
    const message = jsonRpcOf(text);
    if (message.error !== undefined) return `mcp error ${String(message.error.code)}`;
    if (message.result === undefined) return 'no result';
    return message.result['isError'] === true ? 'tool error' : 'ok';
  };
  return { target, send, close: () => dispatcher.close() };
}

async function prepare(target: LoadTarget): Promise<Prepared> {
  if (target.kind === 'http') {
    // Enough connections for any concurrency the bench uses; kept alive between requests.
    const dispatcher = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
    const url = new URL(target.url);
    const source = target.body === undefined ? undefined : bodySource(target.body);
    const method = target.method ?? 'GET';
    const send: Send = async (call) => {
      const headers = target.headers[call % target.headers.length] ?? {};
      if (source === undefined) {
        const response = await request(url, { method, headers, dispatcher });
        await response.body.arrayBuffer();
        return response.statusCode >= 200 && response.statusCode < 300
          ? 'ok'
          : `status ${response.statusCode}`;
      }
      const step = source.next(call);
      if (typeof step === 'string') return step;
      let answer: string | undefined;
      let status: number;
      try {
        const response = await request(url, {
          method,
          headers: { ...headers, 'content-type': step.contentType },
          body: step.text,
          dispatcher,
        });
        status = response.statusCode;
        if (source.wantsAnswer && status >= 200 && status < 300)
          answer = await response.body.text();
        else await response.body.arrayBuffer();
      } finally {
        step.settle?.(answer);
      }
      return status >= 200 && status < 300 ? 'ok' : `status ${status}`;
    };
    return { target, send, close: () => dispatcher.close() };
  }
  if (target.client === 'raw') return prepareRawMcp(target);
  // One official client per header set (per token for Steward), each initialized once here.
  // The SDK's transport uses the global fetch and its connection pool.
  const clients: Client[] = [];
  for (const headers of target.headers) {
    const client = new Client({ name: 'bench-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(target.url), {
        requestInit: { headers: { ...headers } },
      }),
    );
    clients.push(client);
  }
  const send: Send = async (call) => {
    const client = clients[call % clients.length];
    if (client === undefined) throw new Error('no MCP client');
    try {
      const result = await client.request(
        { method: 'tools/call', params: { name: target.tool, arguments: { ...target.arguments } } },
        CallToolResultSchema,
        { timeout: 30_000 },
      );
      return result.isError === true ? 'tool error' : 'ok';
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return typeof code === 'number' ? `mcp error ${code}` : 'network';
    }
  };
  return {
    target,
    send,
    async close() {
      for (const client of clients) await client.close().catch(() => {});
    },
  };
}

const now = () => process.hrtime.bigint();

async function run(send: Send, mode: LoadMode): Promise<LoadResult> {
  const latencies: number[] = [];
  const service: number[] = [];
  const failures: Record<string, number> = {};
  let ok = 0;
  let waitedForSlot = 0;
  const settle = (outcome: string, scheduled: bigint, sent: bigint): void => {
    const end = now();
    if (outcome === 'ok') {
      ok += 1;
      latencies.push(Number(end - scheduled));
      if (mode.type === 'open') service.push(Number(end - sent));
    } else {
      failures[outcome] = (failures[outcome] ?? 0) + 1;
    }
  };
  const safely = (call: number): Promise<string> =>
    send(call).catch((error: unknown) => {
      const code = (error as { code?: unknown }).code;
      return typeof code === 'string' ? `network ${code}` : 'network';
    });
  signedDuringRun = 0;
  const cpuBefore = process.cpuUsage();
  const cpuMs = (): number => {
    const used = process.cpuUsage(cpuBefore);
    return (used.user + used.system) / 1000;
  };
  const start = now();

  if (mode.type === 'closed') {
    const end = start + BigInt(Math.round(mode.seconds * 1e9));
    let call = 0;
    let last = start;
    await Promise.all(
      Array.from({ length: mode.concurrency }, async () => {
        while (now() < end) {
          const sent = now();
          settle(await safely(call++), sent, sent);
          last = now();
        }
      }),
    );
    return {
      latenciesNs: latencies,
      serviceNs: service,
      ok,
      failures,
      elapsedSeconds: Number(last - start) / 1e9,
      waitedForSlot,
      generatorCpuMs: cpuMs(),
      signedDuringRun,
    };
  }

  const total = Math.round(mode.rate * mode.seconds);
  const intervalNs = 1e9 / mode.rate;
  const due = (call: number) => start + BigInt(Math.round(call * intervalNs));
  let next = 0;
  let inFlight = 0;
  let last = start;
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const pump = (): void => {
      const t = now();
      while (next < total && inFlight < mode.maxInFlight && due(next) <= t) {
        const call = next++;
        const scheduled = due(call);
        inFlight += 1;
        const sent = now();
        void safely(call).then((outcome) => {
          settle(outcome, scheduled, sent);
          last = now();
          inFlight -= 1;
          pump();
        });
      }
      if (next >= total) {
        if (inFlight === 0) resolve();
        return;
      }
      if (inFlight >= mode.maxInFlight) {
        // The next due request waits for an answer; it is sent from the completion above.
        if (due(next) <= t) waitedForSlot += 1;
        return;
      }
      if (timer !== undefined) clearTimeout(timer);
      const waitMs = Number(due(next) - now()) / 1e6;
      timer = setTimeout(
        () => {
          timer = undefined;
          pump();
        },
        Math.max(0, waitMs),
      );
    };
    pump();
  });
  return {
    latenciesNs: latencies,
    serviceNs: service,
    ok,
    failures,
    elapsedSeconds: Number(last - start) / 1e9,
    waitedForSlot,
    generatorCpuMs: cpuMs(),
    signedDuringRun,
  };
}

async function handle(message: ParentMessage): Promise<LoadResult | undefined> {
  if (message.type === 'reset') {
    await prepared?.close();
    prepared = undefined;
    return undefined;
  }
  if (message.type === 'prepare') {
    await prepared?.close();
    prepared = await prepare(message.target);
    return undefined;
  }
  const job: LoadJob = message.job;
  // Each message is a new object (structured clone): compare the contents.
  if (prepared === undefined || JSON.stringify(prepared.target) !== JSON.stringify(job.target))
    throw new Error('run before prepare for this target');
  return run(prepared.send, job.mode);
}

const reply = (message: ChildMessage) => process.send?.(message);
process.on('message', (message: ParentMessage) => {
  handle(message).then(
    (result) =>
      reply({ type: 'done', id: message.id, ...(result !== undefined ? { result } : {}) }),
    (error: unknown) =>
      reply({
        type: 'failed',
        id: message.id,
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
});
process.on('SIGTERM', () => {
  void (prepared?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
reply({ type: 'ready' });
