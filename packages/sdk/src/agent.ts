import { joinTokenSource, tokenFileSource } from './attestation.js';
import { fetchWithToken, type FetchInit, type FetchInput } from './authorized-fetch.js';
import { toApiError } from './client.js';
import { systemClock, type Clock } from './clock.js';
import { StewardUnreachableError } from './errors.js';
import { gatewayHttpUrl, gatewayMcpUrl, type McpFetch, type McpTransportClass } from './gateway.js';
import { identityFromToken, type AgentIdentity } from './identity.js';
import { STEWARD_AUDIENCE } from './protocol.js';
import {
  checkRenewalPolicy,
  DEFAULT_EXPIRY_MARGIN_MS,
  DEFAULT_JITTER,
  DEFAULT_RENEW_AFTER,
} from './renewal.js';
import type { StewardOpenTaskInput } from './requests.js';
import type { StewardTask } from './resources.js';
import { AgentTask, type TaskBackend } from './task.js';
import { TokenKeeper } from './token-keeper.js';

/**
 * Options every agent takes, whatever it attests with.
 *
 * @example
 * const common: StewardAgentCommonOptions = { url, renewAfter: 0.6, jitter: 0.2, timeoutMs: 5_000 };
 */
export interface StewardAgentCommonOptions {
  /** Steward's base URL, e.g. `https://steward.example.com`. */
  readonly url: string;
  /** The audience of {@link StewardAgent.token} and {@link StewardAgent.fetch} when none is named (default `steward`). */
  readonly audience?: string;
  /** The token lifetime to ask for, in seconds (at least 30); Steward may grant less. Default: Steward's (5 minutes). */
  readonly expiresInSeconds?: number;
  /** Renew once this fraction of a token's lifetime has passed (default 0.75). */
  readonly renewAfter?: number;
  /** Plus a random fraction up to this much (default 0.1: renewal between 75 % and 85 %). */
  readonly jitter?: number;
  /** A token with less than this left (ms) is not used any more (default 5000): it could expire in transit. */
  readonly expiryMarginMs?: number;
  /**
   * Renew held tokens on timers, not only when asked (default true). An agent started from a join
   * token needs this to outlive an idle spell longer than a token's lifetime. Timers never keep
   * the process alive; {@link StewardAgent.close} stops them.
   */
  readonly backgroundRenewal?: boolean;
  /** Time limit for each request to Steward, in milliseconds (default 10 s). */
  readonly timeoutMs?: number;
  /** A `fetch` to use instead of the global one (proxies, tests). */
  readonly fetch?: typeof fetch;
  /** The time source (default `Date.now`): tests move it instead of sleeping. */
  readonly clock?: Clock;
  /** The source of the renewal jitter, in [0, 1) (default `Math.random`). */
  readonly random?: () => number;
}

/**
 * How an agent is built: Steward's URL and exactly one way to prove who it is, a single-use join
 * token or a token file its platform keeps current.
 *
 * @example
 * const fromJoinToken: StewardAgentOptions = { url, joinToken: process.env.STEWARD_JOIN_TOKEN ?? '' };
 * const fromFile: StewardAgentOptions = { url, tokenFile: '/var/run/secrets/tokens/steward', audience: 'crm' };
 */
export type StewardAgentOptions = StewardAgentCommonOptions &
  (
    | {
        /** A single-use join token (`stw_join_…`): it starts one session, then renewals carry on. */
        readonly joinToken: string;
        readonly tokenFile?: undefined;
      }
    | {
        /**
         * A file holding a platform JWT (a Kubernetes projected service-account token, a CI OIDC
         * token) that a Steward federation trust rule accepts. Read again for every new session.
         */
        readonly tokenFile: string;
        readonly joinToken?: undefined;
      }
  );

/**
 * Per-call options of {@link StewardAgent.fetch}.
 *
 * @example
 * await agent.fetch(gatewayUrl, { method: 'POST', body }, { audience: 'crm' });
 */
export interface AgentFetchOptions {
  /** Whose token to send (default: the agent's audience). */
  readonly audience?: string;
}

/**
 * A workload's connection to Steward: proves who it is once (join token or token file), then
 * keeps a short-lived access token per audience, renewing each before it expires.
 *
 * Tokens are obtained lazily by the first call that needs one, or at once with
 * {@link StewardAgent.start}. Concurrent requests for one audience share one exchange. Tokens
 * are never logged and never appear in an error message.
 *
 * @example
 * import { StewardAgent } from '@steward/sdk';
 *
 * const agent = new StewardAgent({
 *   url: process.env.STEWARD_URL ?? 'http://127.0.0.1:8080',
 *   tokenFile: '/var/run/secrets/tokens/steward', // or: joinToken: process.env.STEWARD_JOIN_TOKEN
 * });
 * const me = await agent.start();
 * const response = await agent.fetch(`/v1/identities/${me.id}`);
 * agent.close();
 */
export class StewardAgent {
  /** Steward's base URL, without a trailing slash. */
  readonly url: string;
  /** The audience used when a call names none. */
  readonly audience: string;
  readonly #keeper: TokenKeeper;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: StewardAgentOptions) {
    this.url = checkUrl(options.url);
    this.audience = options.audience ?? STEWARD_AUDIENCE;
    if (this.audience === '') throw new TypeError('audience must not be empty');
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    if (!(Number.isFinite(this.#timeoutMs) && this.#timeoutMs > 0)) {
      throw new RangeError('timeoutMs must be a positive number of milliseconds');
    }
    const expiresIn = options.expiresInSeconds;
    if (expiresIn !== undefined && !(Number.isInteger(expiresIn) && expiresIn >= 30)) {
      throw new RangeError('expiresInSeconds must be a whole number of seconds, at least 30');
    }
    // Both or neither is a configuration mistake worth stopping for: which one would be meant?
    const { joinToken, tokenFile } = options;
    if ((joinToken === undefined) === (tokenFile === undefined)) {
      throw new TypeError('Give the agent exactly one of joinToken and tokenFile.');
    }
    if (joinToken === '' || tokenFile === '') {
      throw new TypeError('joinToken and tokenFile must not be empty.');
    }
    const policy = {
      renewAfter: options.renewAfter ?? DEFAULT_RENEW_AFTER,
      jitter: options.jitter ?? DEFAULT_JITTER,
      expiryMarginMs: options.expiryMarginMs ?? DEFAULT_EXPIRY_MARGIN_MS,
      random: options.random ?? Math.random,
    };
    checkRenewalPolicy(policy);
    this.#fetch = options.fetch ?? fetch;
    this.#keeper = new TokenKeeper({
      endpoint: { url: this.url, fetch: this.#fetch, timeoutMs: this.#timeoutMs },
      attestation:
        joinToken !== undefined ? joinTokenSource(joinToken) : tokenFileSource(tokenFile ?? ''),
      clock: options.clock ?? systemClock,
      policy,
      anchorAudience: this.audience,
      expiresInSeconds: expiresIn,
      background: options.backgroundRenewal ?? true,
    });
  }

  /**
   * Attests now instead of at the first call, so a bad join token or token file stops the agent
   * at start-up. Resolves to the agent's identity.
   *
   * @example
   * const me = await agent.start();
   * console.log(`running as ${me.spiffeId}`);
   */
  async start(): Promise<AgentIdentity> {
    return this.identity();
  }

  /**
   * A valid access token for `audience` (default: the agent's audience): the held one until its
   * renewal time, then a renewed one. Throws a {@link StewardAuthError} when Steward refuses.
   *
   * @example
   * const token = await agent.token(); // for Steward's own API
   * const forCrm = await agent.token('crm'); // for the gateway's `crm` upstream
   */
  async token(audience: string = this.audience): Promise<string> {
    return this.#keeper.get(audience);
  }

  /**
   * Who this agent is, read from its access token's claims (`client_id`, `sub`, …) without
   * verifying the signature. That is sound for the token's holder: it got the token straight from
   * the Steward it chose to trust and uses the claims only to name itself in its own requests;
   * Steward verifies the token on every use and refuses a request for another identity.
   *
   * @example
   * const { id, spiffeId } = await agent.identity();
   */
  async identity(): Promise<AgentIdentity> {
    return identityFromToken(await this.token());
  }

  /**
   * `fetch` with `Authorization: Bearer <token for options.audience>`. If the answer is 401 the
   * request is sent once more with a freshly obtained token. A string starting with `/` is
   * resolved against Steward's URL.
   *
   * A request that already has an `Authorization` header is refused with a TypeError before
   * anything is sent: the agent neither replaces your credential silently nor drops its own.
   * Set your own time limit with `init.signal`: tool calls may legitimately take long.
   *
   * @example
   * const response = await agent.fetch('/v1/tasks/' + taskId);
   */
  fetch(input: FetchInput, init?: FetchInit, options?: AgentFetchOptions): Promise<Response>;
  /**
   * An HTTP tool through the gateway: `fetch` of `<steward>/gw/http/<upstream><path>` with a token
   * whose audience is the upstream. The gateway decides the call, swaps the token for the
   * upstream's real credential and forwards it; the agent never sees that credential.
   *
   * @param upstream the upstream's name, as registered in Steward.
   * @param path starts with `/`; may carry a query string.
   *
   * @example
   * const order = await agent.fetch('orders-api', '/orders/1234');
   * const refund = await agent.fetch('orders-api', '/refunds', { method: 'POST', body: JSON.stringify({ id: '1234' }) });
   */
  fetch(upstream: string, path: string, init?: FetchInit): Promise<Response>;
  async fetch(
    input: FetchInput,
    second?: FetchInit | string,
    third?: FetchInit | AgentFetchOptions,
  ): Promise<Response> {
    if (typeof second === 'string') {
      if (typeof input !== 'string') throw new TypeError('the upstream must be a name');
      return this.#fetchFor(
        gatewayHttpUrl(this.url, input, second),
        third as FetchInit | undefined,
        input,
        undefined,
      );
    }
    const options = (third ?? {}) as AgentFetchOptions;
    return this.#fetchFor(input, second, options.audience ?? this.audience, undefined);
  }

  /**
   * The gateway's MCP endpoint for `upstream`: `<steward>/gw/mcp/<upstream>`.
   *
   * @example
   * const url = agent.mcpUrl('crm'); // https://steward.example.com/gw/mcp/crm
   */
  mcpUrl(upstream: string): URL {
    return gatewayMcpUrl(this.url, upstream);
  }

  /**
   * A `fetch` for an MCP client transport that talks to `upstream` through the gateway: every
   * request carries a token whose audience is the upstream, renewed before it expires and
   * replaced once if the gateway answers 401 (revoked, or expired in transit).
   *
   * @example
   * import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
   * const transport = new StreamableHTTPClientTransport(agent.mcpUrl('crm'), { fetch: agent.mcpFetch('crm') });
   */
  mcpFetch(upstream: string): McpFetch {
    return this.#mcpFetch(upstream, undefined);
  }

  /**
   * An MCP client transport to `upstream` through the gateway, made with the transport class you
   * pass (the MCP SDK's `StreamableHTTPClientTransport`), so this SDK needs no MCP dependency.
   *
   * @example
   * import { Client } from '@modelcontextprotocol/sdk/client/index.js';
   * import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
   *
   * const client = new Client({ name: 'refund-agent', version: '1.0.0' });
   * await client.connect(agent.mcpTransport('crm', StreamableHTTPClientTransport));
   * const { tools } = await client.listTools(); // only the tools policy lets this agent call
   */
  mcpTransport<T>(upstream: string, Transport: McpTransportClass<T>): T {
    return new Transport(this.mcpUrl(upstream), { fetch: this.mcpFetch(upstream) });
  }

  #mcpFetch(upstream: string, task: string | undefined): McpFetch {
    gatewayMcpUrl(this.url, upstream);
    return (url, init) => this.#fetchFor(url, init, upstream, task);
  }

  /**
   * Opens a task for this agent (`POST /v1/tasks`) and returns its handle, whose tokens carry the
   * task and die when it is completed or reaches its deadline.
   *
   * @example
   * const task = await agent.openTask({ deadlineSeconds: 600, description: 'nightly reconciliation' });
   * const token = await task.token();
   * await task.complete();
   */
  async openTask(input: Omit<StewardOpenTaskInput, 'identity'>): Promise<AgentTask> {
    const { id } = await this.identity();
    const task = await this.#api<StewardTask>('POST', '/v1/tasks', {
      identity: id,
      deadlineSeconds: input.deadlineSeconds,
      ...(input.description !== undefined ? { description: input.description } : {}),
    });
    return new AgentTask(this.#taskBackend(), task);
  }

  /**
   * A handle on a task already opened for this agent (by an orchestrator or its owners), by id.
   *
   * @example
   * const task = await agent.task(process.env.STEWARD_TASK_ID ?? '');
   */
  async task(id: string): Promise<AgentTask> {
    const task = await this.#api<StewardTask>('GET', `/v1/tasks/${encodeURIComponent(id)}`);
    return new AgentTask(this.#taskBackend(), task);
  }

  /**
   * Stops the renewal timers and forgets every token. Later calls fail. Tokens already handed out
   * stay valid until they expire (minutes).
   *
   * @example
   * process.once('SIGTERM', () => agent.close());
   */
  close(): void {
    this.#keeper.close();
  }

  #fetchFor(
    input: FetchInput,
    init: FetchInit | undefined,
    audience: string,
    task: string | undefined,
  ): Promise<Response> {
    const target = typeof input === 'string' && input.startsWith('/') ? this.url + input : input;
    return fetchWithToken(
      this.#fetch,
      (rejected) => this.#keeper.get(audience, task, rejected),
      target,
      init,
    );
  }

  #taskBackend(): TaskBackend {
    return {
      defaultAudience: this.audience,
      token: (audience, task) => this.#keeper.get(audience, task),
      fetch: (input, init, audience, task) => this.#fetchFor(input, init, audience, task),
      gatewayUrl: (upstream, path) => gatewayHttpUrl(this.url, upstream, path),
      mcpUrl: (upstream) => this.mcpUrl(upstream),
      mcpFetch: (upstream, task) => this.#mcpFetch(upstream, task),
      complete: async (task) => {
        const done = await this.#api<StewardTask>(
          'POST',
          `/v1/tasks/${encodeURIComponent(task)}/complete`,
        );
        this.#keeper.forgetTask(task);
        return done;
      },
    };
  }

  /** A call to Steward's API with the agent's own token (audience `steward`, no task). */
  async #api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const send: typeof fetch = async (input, init) => {
      try {
        return await this.#fetch(input, init);
      } catch (error) {
        throw new StewardUnreachableError(this.url, error);
      }
    };
    const response = await fetchWithToken(
      send,
      (rejected) => this.#keeper.get(STEWARD_AUDIENCE, undefined, rejected),
      this.url + path,
      {
        method,
        headers: {
          accept: 'application/json, application/problem+json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      },
    );
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) throw toApiError(response, json);
    return json as T;
  }
}

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`not a URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`Steward's URL must be http:// or https://, not ${parsed.protocol}`);
  }
  return url.replace(/\/+$/, '');
}
