/**
 * A load generator in a child process of its own, so that sending requests does not compete for
 * the event loop of the server under test (which runs in the bench's process).
 *
 * Two ways to load a target:
 * - **Open loop** (fixed offered load): request _i_ is due at `start + i / rate`, whether or not
 *   earlier ones have answered, with at most `maxInFlight` outstanding (a due request waits for a
 *   free slot). Each latency runs from the request's **scheduled** time, not from when it was
 *   actually sent, so a stall of the server counts against every request it delayed, not only the
 *   one it stalled (no coordinated omission, as in wrk2). The service time (from the actual send)
 *   is kept too.
 * - **Closed loop** (maximum throughput): `concurrency` clients each send their next request as
 *   soon as the last one answered, for a fixed time.
 *
 * A request counts as done when its answer is complete and successful (HTTP 2xx, or an MCP result
 * that is not an error); anything else is counted by kind and left out of the latencies and of the
 * throughput.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Who to call and how; `headers[i % headers.length]` go with request `i` (one set per client). */
export type LoadTarget =
  | {
      readonly kind: 'http';
      readonly url: string;
      readonly headers: readonly HeaderSet[];
      /** GET without a body unless said otherwise. */
      readonly method?: 'GET' | 'POST';
      readonly body?: HttpBody;
    }
  | {
      readonly kind: 'mcp';
      readonly url: string;
      readonly headers: readonly HeaderSet[];
      readonly tool: string;
      readonly arguments: Readonly<Record<string, string>>;
      /**
       * `sdk` (default): the official MCP client. `raw`: the same Streamable HTTP exchange
       * (`initialize` and `notifications/initialized` once per header set, then one JSON-RPC
       * `tools/call` POST per request) written with undici, which costs the generator far less
       * CPU per call than the SDK's client, for a cheap server under test (the bare proxy).
       */
      readonly client?: 'sdk' | 'raw';
    };

export type HeaderSet = Readonly<Record<string, string>>;

/**
 * What a POST carries:
 * - `fixed`: the same body every time.
 * - `cycle`: `texts[i % texts.length]` for request `i`.
 * - `renewal`: Steward's token renewal (`/oauth2/token`, token exchange of an access token), each
 *   request presenting a token no request presented before: a free list starts with `tokens`
 *   (at least one per outstanding request), and each answer's `access_token` goes back on it, so
 *   every renewal presents the token an earlier one issued, as an agent renewing does.
 * - `client-assertion`: an OAuth `client_credentials` request authenticated with
 *   `private_key_jwt`: `form` plus `client_assertion`, an EdDSA JWT with a unique `jti`. The
 *   assertions are signed by the generator while it prepares (`presign` of them, outside any
 *   measurement); a run that needs more signs the rest as it goes and says how many.
 */
export type HttpBody =
  | { readonly type: 'fixed'; readonly contentType: string; readonly text: string }
  | { readonly type: 'cycle'; readonly contentType: string; readonly texts: readonly string[] }
  | { readonly type: 'renewal'; readonly tokens: readonly string[] }
  | {
      readonly type: 'client-assertion';
      readonly form: Readonly<Record<string, string>>;
      readonly clientId: string;
      /** The token endpoint's URL, the assertion's `aud`. */
      readonly audience: string;
      readonly kid: string;
      /** PKCS #8 PEM of the client's Ed25519 key. */
      readonly privateKeyPem: string;
      readonly presign: number;
    };

export type LoadMode =
  | {
      readonly type: 'open';
      readonly rate: number;
      readonly seconds: number;
      readonly maxInFlight: number;
    }
  | { readonly type: 'closed'; readonly concurrency: number; readonly seconds: number };

export interface LoadJob {
  readonly target: LoadTarget;
  readonly mode: LoadMode;
}

export interface LoadResult {
  /** Latency of each successful request in ns: from its scheduled time (open) or its send. */
  readonly latenciesNs: number[];
  /** Open loop only: from the actual send, in ns. */
  readonly serviceNs: number[];
  readonly ok: number;
  /** Failed requests by kind (`status 429`, `mcp error`, `network`). */
  readonly failures: Readonly<Record<string, number>>;
  /** From the first scheduled send to the last answer. */
  readonly elapsedSeconds: number;
  /** Open loop: how often a due request found every slot taken. */
  readonly waitedForSlot: number;
  /** CPU time (user + system) the generator's process spent during the run, in ms. */
  readonly generatorCpuMs: number;
  /** `client-assertion` bodies signed during the run because the presigned ones ran out. */
  readonly signedDuringRun: number;
}

export type ParentMessage =
  | { readonly type: 'prepare'; readonly id: number; readonly target: LoadTarget }
  | { readonly type: 'run'; readonly id: number; readonly job: LoadJob }
  | { readonly type: 'reset'; readonly id: number };

export type ChildMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly id: number; readonly result?: LoadResult }
  | { readonly type: 'failed'; readonly id: number; readonly message: string };

/** The parent's handle on the child. */
export interface LoadGenerator {
  /** Connects the clients of `target` (MCP: `initialize` for each) outside any measurement. */
  prepare(target: LoadTarget): Promise<void>;
  run(job: LoadJob): Promise<LoadResult>;
  /** Closes every client and connection, so that the next target starts cold and alone. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'load-child.ts');

/** Starts the child (with the loader the bench runs under, e.g. tsx) and waits until it listens. */
export async function startLoadGenerator(): Promise<LoadGenerator> {
  const child: ChildProcess = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, { resolve(r?: LoadResult): void; reject(e: Error): void }>();
  let nextId = 0;
  let exited: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (message: ChildMessage) => {
      if (message.type === 'ready') resolve();
      else reject(new Error(`the load generator said ${message.type} before ready`));
    });
  });
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'ready') return;
    const entry = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.type === 'failed') entry?.reject(new Error(`load generator: ${message.message}`));
    else entry?.resolve(message.result);
  });
  child.once('exit', (code) => {
    exited = new Error(`the load generator exited (${String(code)})`);
    for (const entry of waiting.values()) entry.reject(exited);
    waiting.clear();
  });
  const ask = (message: ParentMessage): Promise<LoadResult | undefined> =>
    new Promise((resolve, reject) => {
      if (exited !== undefined) {
        reject(exited);
        return;
      }
      waiting.set(message.id, { resolve, reject });
      child.send(message);
    });
  return {
    async prepare(target) {
      await ask({ type: 'prepare', id: nextId++, target });
    },
    async run(job) {
      const result = await ask({ type: 'run', id: nextId++, job });
      if (result === undefined) throw new Error('the load generator sent no result');
      return result;
    },
    async reset() {
      await ask({ type: 'reset', id: nextId++ });
    },
    async close() {
      if (exited !== undefined) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
