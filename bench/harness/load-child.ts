/**
 * The load generator's process (see `load.ts`): HTTP requests through an undici pool, MCP
 * `tools/call` through the official SDK client over Streamable HTTP. Not a scenario: forked by
 * `startLoadGenerator`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Agent, request } from 'undici';
import type {
  ChildMessage,
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

async function prepare(target: LoadTarget): Promise<Prepared> {
  if (target.kind === 'http') {
    // Enough connections for any concurrency the bench uses; kept alive between requests.
    const dispatcher = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
    const url = new URL(target.url);
    const send: Send = async (call) => {
      const headers = target.headers[call % target.headers.length] ?? {};
      const response = await request(url, { method: 'GET', headers, dispatcher });
      await response.body.arrayBuffer();
      return response.statusCode >= 200 && response.statusCode < 300
        ? 'ok'
        : `status ${response.statusCode}`;
    };
    return { target, send, close: () => dispatcher.close() };
  }
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
