import type { FetchInit, FetchInput } from './authorized-fetch.js';

/**
 * A task as Steward describes it (`GET /v1/tasks/{id}`).
 *
 * @example
 * const done: StewardTask = await task.complete();
 * console.log(done.status, done.closedAt);
 */
export interface StewardTask {
  readonly id: string;
  /** The workload identity the task belongs to. */
  readonly identity: string;
  readonly description: string;
  readonly status: 'open' | 'completed' | 'expired';
  readonly deadlineAt: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly closedAt: string | null;
  readonly closedBy: string | null;
}

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
  async fetch(
    input: FetchInput,
    init?: FetchInit,
    options: { readonly audience?: string } = {},
  ): Promise<Response> {
    this.#checkOpen();
    return this.#backend.fetch(
      input,
      init,
      options.audience ?? this.#backend.defaultAudience,
      this.id,
    );
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
