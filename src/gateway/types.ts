import type { AccessTokenClaims } from '../tokens/index.js';
import type { Upstream } from '../upstreams/index.js';
import type { GatewayRefusal } from './refusals.js';

/**
 * The enforcement core's contract, shared by the HTTP and the MCP gateway: both turn their
 * protocol into one `GatewayCall`, ask the core, and forward only on `allow`.
 */
export interface GatewayCall {
  /** The bearer token as presented; verified by the core (audience: the upstream or the gateway). */
  readonly token: string | undefined;
  readonly upstream: string;
  /** The Cedar action: `invoke_tool`, `list_tools`, `read_resource`, `get_prompt`, `http_request`. */
  readonly action: string;
  /** The tool, prompt or resource name, or the HTTP operation name (or the normalised path). */
  readonly operation: string;
  /**
   * Names the operation from the upstream's record once the core has looked it up (HTTP: the
   * declared operation a method and path match); replaces `operation` from then on.
   */
  readonly operationOf?: (upstream: Upstream) => string;
  /** HTTP only. */
  readonly method?: string;
  readonly path?: string;
  /** Tool arguments or request attributes given to policy (secrets are redacted before recording). */
  readonly arguments?: Readonly<Record<string, unknown>>;
  readonly clientAddress: string;
  readonly requestId: string;
  /** The caller's W3C `traceparent` (HTTP header, or MCP `params._meta.traceparent`). */
  readonly traceparent?: string;
  /** The request body's declared size, when known (Content-Length): checked against the upstream's limit. */
  readonly declaredBytes?: number;
  /**
   * When the adapter received the request, on the `performance.now()` time line: the call's
   * deadline for waits on the store counts from here (default: when `check` starts).
   */
  readonly receivedAt?: number;
}

export type GatewayVerdict =
  | {
      readonly outcome: 'allow';
      readonly upstream: Upstream;
      readonly claims: AccessTokenClaims;
      /** The decision record's id, written durably before this verdict was returned. */
      readonly recordId: string;
      readonly policies: readonly string[];
      /** Headers to add to the forwarded request (the injected credential), and query params. */
      readonly inject: {
        readonly headers: Readonly<Record<string, string>>;
        readonly query: Readonly<Record<string, string>>;
        /**
         * The secret and the values it was injected as: what the adapter scrubs from the
         * upstream's answer (`src/gateway/scrub.ts`). Empty when nothing is injected.
         */
        readonly scrub: readonly string[];
      };
      /** The W3C `traceparent` to send upstream (the gateway span's, or the caller's continued). */
      readonly traceparent: string;
    }
  | {
      readonly outcome: 'refuse';
      readonly code: GatewayRefusal;
      /** The code's status in `REFUSAL_CATALOG`. */
      readonly status: number;
      readonly message: string;
      readonly retryAfterSeconds?: number;
      readonly recordId?: string;
    };

/** What happened after forwarding, recorded against the decision record. */
export interface GatewayOutcome {
  readonly recordId: string;
  readonly status: number;
  readonly bytes: number;
  readonly latencyMs: number;
  readonly error?: string;
  /** Result content, recorded only where the upstream asks for it (after redaction). */
  readonly content?: unknown;
  /**
   * What was relayed between agent and upstream besides the answer (MCP notifications and
   * requests, by method; `refused`, `withheld`), counted, never their content.
   */
  readonly relayed?: Readonly<Record<string, number>>;
  /**
   * Where the injected secret came back in the upstream's answer (`response.headers`,
   * `response.body`, `result`), scrubbed by the adapter: each raises a finding, and the secret
   * is marked for rotation.
   */
  readonly secretEchoed?: readonly string[];
}

/** A refusal, as `check`, `authenticate`, `beforeForward` and `reject` return it. */
export type GatewayRefused = Extract<GatewayVerdict, { outcome: 'refuse' }>;

/** A caller whose token `authenticate` accepted for the call's upstream. */
export interface GatewayAuthenticated {
  readonly outcome: 'authenticated';
  readonly claims: AccessTokenClaims;
}

export interface EnforcementCore {
  /** Verify → decide → (approval) → durable record → credential to inject. Never throws for a refusal. */
  check(call: GatewayCall): Promise<GatewayVerdict>;
  /**
   * For filtering a listing: whether `call` would be allowed (or allowed after approval), by the
   * same token check and decision as `check`, with no record and no rate-limit token spent.
   */
  visible(call: GatewayCall): Promise<boolean>;
  /**
   * The token check alone, for an adapter that must answer an unauthenticated caller before it
   * reads the request (the MCP gateway's 401 discovery) or before any lookup: the verified claims
   * when the token is valid for the call's upstream, else the refusal. Refusals of callers without
   * a valid token are limited per client address (429 beyond it) and counted, not recorded one by
   * one.
   */
  authenticate(call: GatewayCall): GatewayAuthenticated | GatewayRefused;
  /**
   * The last gate before an allowed call is forwarded; call it right before the first byte goes
   * upstream. A call whose client has gone, or whose deadline passed since `check` allowed it, is
   * refused and its outcome recorded as not forwarded; undefined means forward.
   */
  beforeForward(
    verdict: Extract<GatewayVerdict, { outcome: 'allow' }>,
    client: { readonly gone: boolean },
  ): GatewayRefused | undefined;
  /** Records the outcome of a forwarded call (group-committed; failures are logged, not thrown). */
  complete(outcome: GatewayOutcome): Promise<void>;
  /**
   * Refuses a call the adapter found malformed before any decision (a path with `..`, a bad
   * message): records the refusal, attributed to the token's workload when the token is valid,
   * and returns the refusal to send. Nothing is decided and nothing may be forwarded.
   */
  reject(call: GatewayCall, code: GatewayRefusal, message: string): Promise<GatewayRefused>;
  /**
   * How long a call may wait on the store, counted from its arrival: an adapter bounds its own
   * store reads on the call path (the MCP gateway's sessions and tool pins) by the same limit.
   */
  readonly storeTimeoutMs: number;
}
