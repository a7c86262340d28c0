import type { FetchInit, FetchInput } from './authorized-fetch.js';
import type { McpFetch, McpTransportClass } from './gateway.js';
import type { StewardTask } from './resources.js';

/** What a task handle needs from its agent; kept narrow so the handle holds no agent state. */
export interface TaskBackend {
  readonly defaultAudience: string;
  token(audience: string, task: string): Promise<string>;
  fetch(
    input: FetchInput,
    init: FetchInit | undefined,
    audience: string,
    task: string,
  ): Promise<Response>;
  complete(task: string): Promise<StewardTask>;
  gatewayUrl(upstream: string, path: string): string;
  mcpUrl(upstream: string): URL;
  mcpFetch(upstream: string, task: string): McpFetch;
}

/**
 * One unit of the agent's work, opened with {@link StewardAgent.openTask}. Tokens from
 * {@link AgentTask.token} carry the task: Steward revokes them all the moment the task is
 * completed or reaches its deadline, so a leaked task token is worth nothing afterwards.
 *
 * @example
 * const task = await agent.openTask({ deadlineSeconds: 900, description: 'refund order 1234' });
 * try {
 *   const response = await task.fetch('https://steward.example.com/gw/http/crm/orders/1234', undefined, { audience: 'crm' });
 * } finally {
 *   await task.complete();
 * }
 */
export class AgentTask {
  readonly id: string;
  readonly description: string;
  /** The deadline, ISO 8601: tokens of this task never outlive it. */
  readonly deadlineAt: string;
  readonly #backend: TaskBackend;
  #completed: Promise<StewardTask> | undefined;

  /** Made by {@link StewardAgent.openTask} and {@link StewardAgent.task}, not directly. */
  constructor(backend: TaskBackend, task: StewardTask) {
    this.#backend = backend;
    this.id = task.id;
    this.description = task.description;
    this.deadlineAt = task.deadlineAt;
  }

  /**
   * A task-scoped access token for `audience` (default: the agent's audience), renewed like the
   * agent's own tokens until the task ends.
   *
   * @example
   * const token = await task.token('steward');
   */
  async token(audience: string = this.#backend.defaultAudience): Promise<string> {
    this.#checkOpen();
    return this.#backend.token(audience, this.id);
  }

  /**
   * `fetch` with this task's token for `options.audience` (default: the agent's audience), with
   * the same rules as {@link StewardAgent.fetch}.
   *
   * @example
   * const response = await task.fetch(`/v1/tasks/${task.id}`, undefined, { audience: 'steward' });
   */
  fetch(
    input: FetchInput,
    init?: FetchInit,
    options?: { readonly audience?: string },
  ): Promise<Response>;
  /**
   * An HTTP tool through the gateway with this task's token, as {@link StewardAgent.fetch}'s
   * `(upstream, path, init)` form: it stops working the moment the task is completed.
   *
   * @example
   * const order = await task.fetch('orders-api', '/orders/1234');
   */
  fetch(upstream: string, path: string, init?: FetchInit): Promise<Response>;
  async fetch(
    input: FetchInput,
    second?: FetchInit | string,
    third?: FetchInit | { readonly audience?: string },
  ): Promise<Response> {
    this.#checkOpen();
    if (typeof second === 'string') {
      if (typeof input !== 'string') throw new TypeError('the upstream must be a name');
      const url = this.#backend.gatewayUrl(input, second);
      return this.#backend.fetch(url, third as FetchInit | undefined, input, this.id);
    }
    const options = (third ?? {}) as { readonly audience?: string };
    return this.#backend.fetch(
      input,
      second,
      options.audience ?? this.#backend.defaultAudience,
      this.id,
    );
  }

  /**
   * An MCP client transport to `upstream` through the gateway whose requests carry this task's
   * token, as {@link StewardAgent.mcpTransport}: once the task is completed its calls fail.
   *
   * @example
   * await client.connect(task.mcpTransport('crm', StreamableHTTPClientTransport));
   */
  mcpTransport<T>(upstream: string, Transport: McpTransportClass<T>): T {
    this.#checkOpen();
    const send = this.#backend.mcpFetch(upstream, this.id);
    const fetch: McpFetch = (url, init) => {
      this.#checkOpen();
      return send(url, init);
    };
    return new Transport(this.#backend.mcpUrl(upstream), { fetch });
  }

  /**
   * Completes the task: Steward revokes every token issued for it, and the agent forgets them.
   * Calling it again returns the same result without asking Steward twice; after a failure
   * (Steward unreachable) it asks again.
   *
   * @example
   * const done = await task.complete(); // done.status === 'completed'
   */
  complete(): Promise<StewardTask> {
    if (this.#completed === undefined) {
      const run = this.#backend.complete(this.id);
      this.#completed = run;
      // A completion that failed (Steward unreachable) may be tried again.
      run.catch(() => {
        if (this.#completed === run) this.#completed = undefined;
      });
    }
    return this.#completed;
  }

  #checkOpen(): void {
    if (this.#completed !== undefined) {
      throw new Error(`Task ${this.id} has been completed: its tokens are revoked.`);
    }
  }
}
