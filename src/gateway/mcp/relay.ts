import { randomUUID } from 'node:crypto';
import {
  ErrorCode,
  McpError,
  type JSONRPCMessage,
  type Notification,
  type Result,
} from '@modelcontextprotocol/sdk/types.js';
import { REFUSAL_CATALOG } from '../refusals.js';
import type { EnforcementCore, GatewayCall } from '../types.js';
import { JsonRpcError, refusalError } from './errors.js';
import { MailboxWaitError, type Mailbox } from './mailbox.js';
import type { McpSession, RelayedCapabilities } from './sessions.js';

/** Where the upstream's messages about one call (or one listening stream) go. */
export interface RelayTarget {
  /** Relays a notification to the agent (dropped when it may not go). */
  notify(notification: Notification): Promise<void>;
  /**
   * Relays a request the upstream made of its client (elicitation, sampling, roots) to the agent,
   * decided as its own action first; resolves with the agent's answer, or rejects with the
   * JSON-RPC error the upstream gets.
   */
  request(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Result>;
}

/** The Cedar action of each relayed request, and the capability the agent must have declared. */
export const SERVER_REQUESTS: Readonly<
  Record<string, { readonly action: string; readonly capability: keyof RelayedCapabilities }>
> = {
  'elicitation/create': { action: 'elicit', capability: 'elicitation' },
  'sampling/createMessage': { action: 'sample', capability: 'sampling' },
  'roots/list': { action: 'list_roots', capability: 'roots' },
};

/** The mailbox of an agent's answer to a relayed request, within its session. */
export function answerBox(sessionHash: string, id: string): string {
  return `${sessionHash} a ${id}`;
}

/** The mailbox of an agent's cancellation of one of its requests, within its session. */
export function cancelBox(sessionHash: string, requestId: string | number): string {
  return `${sessionHash} c ${typeof requestId}:${String(requestId)}`;
}

/** Bounds of relaying. */
export interface RelayLimits {
  /** How long a relayed request waits for the agent's answer at most. */
  readonly requestTimeoutMs: number;
  /** Relayed requests one session may have waiting at once, per replica. */
  readonly maxPendingPerSession: number;
  /** The largest answer relayed back to the upstream. */
  readonly maxMessageBytes: number;
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  requestTimeoutMs: 5 * 60_000,
  maxPendingPerSession: 16,
  maxMessageBytes: 1024 * 1024,
};

/** Per session, on this replica: relayed requests waiting for an answer. */
const pendingBySession = new Map<string, number>();

export interface RelayOptions {
  readonly enforcement: EnforcementCore;
  readonly mailbox: Mailbox;
  readonly limits: RelayLimits;
  /** The agent's session; without one (a stateless agent) nothing it did not declare is relayed. */
  readonly session: McpSession | undefined;
  /** The agent request (or stream) the relay serves, for the decisions of relayed requests. */
  readonly call: Omit<GatewayCall, 'action' | 'operation' | 'arguments'>;
  /** What the record names as the operation: the tool called, or the upstream. */
  readonly operation: string;
  /** Writes a message to the agent's stream. */
  send(message: JSONRPCMessage): Promise<void>;
  /** Values that must never reach the agent: the injected credential. */
  readonly secrets: readonly string[];
  /** Whether a notification may go now (a listening stream re-checks its token and policy). */
  admit?(notification: Notification): Promise<boolean>;
  /** Counts of what was relayed and refused, for the call's outcome record. */
  readonly counts: Record<string, number>;
  /** Called while a relayed request waits (true) and when it is done (false). */
  waiting?(on: boolean): void;
  /** Called on every message from the upstream about this call. */
  activity?(): void;
}

function count(counts: Record<string, number>, name: string): void {
  counts[name] = (counts[name] ?? 0) + 1;
}

/** Whether `value` carries one of `secrets` anywhere in it. */
function carriesSecret(value: unknown, secrets: readonly string[]): boolean {
  if (secrets.length === 0) return false;
  const text = JSON.stringify(value);
  return secrets.some((secret) => secret.length > 0 && text.includes(secret));
}

/**
 * A relay for one agent request or listening stream: what the upstream sends about it goes to
 * the agent under policy, and is counted for the record.
 *
 * - Notifications (progress is relayed by the caller, which knows the agent's token) go as they
 *   are, unless they carry the injected credential (dropped and counted as `withheld`).
 * - A request (elicitation, sampling, roots) goes only when the agent declared the capability at
 *   `initialize` and policy permits its action (`elicit`, `sample`, `list_roots`), each decision
 *   recorded; otherwise the upstream gets a JSON-RPC error. The agent's answer may reach any
 *   replica: it comes back through the mailbox. An upstream that cancels its request has the
 *   cancellation relayed too.
 */
export function createRelay(options: RelayOptions): RelayTarget {
  const { enforcement, session, call, counts } = options;

  async function refuse(action: string, message: string): Promise<never> {
    count(counts, 'refused');
    const verdict = await enforcement.reject(
      { ...call, action, operation: options.operation },
      'forbidden',
      message,
    );
    throw refusalError(verdict.outcome === 'refuse' ? verdict : { code: 'forbidden', message });
  }

  return {
    async notify(notification) {
      options.activity?.();
      if (carriesSecret(notification, options.secrets)) {
        count(counts, 'withheld');
        return;
      }
      if (options.admit !== undefined && !(await options.admit(notification))) {
        count(counts, 'withheld');
        return;
      }
      await options.send({ jsonrpc: '2.0', ...notification });
      count(counts, notification.method);
    },

    async request(method, params, signal) {
      options.activity?.();
      const kind = SERVER_REQUESTS[method];
      if (kind === undefined) throw new McpError(ErrorCode.MethodNotFound, 'Method not found');
      if (session === undefined || session.capabilities[kind.capability] === undefined) {
        return refuse(
          kind.action,
          `The agent did not declare ${kind.capability}; ${method} is not relayed.`,
        );
      }
      if (carriesSecret(params, options.secrets)) {
        return refuse(kind.action, `The ${method} request carries the upstream's credential.`);
      }
      const pending = pendingBySession.get(session.hash) ?? 0;
      if (pending >= options.limits.maxPendingPerSession) {
        return refuse(kind.action, `Too many ${method} requests wait for this session.`);
      }
      const verdict = await enforcement.check({
        ...call,
        action: kind.action,
        operation: options.operation,
        arguments: params,
      });
      if (verdict.outcome === 'refuse') {
        count(counts, 'refused');
        throw refusalError(verdict);
      }
      const started = performance.now();
      const complete = (status: number, bytes: number, error?: string, content?: unknown) =>
        enforcement.complete({
          recordId: verdict.recordId,
          status,
          bytes,
          latencyMs: performance.now() - started,
          ...(error !== undefined ? { error } : {}),
          ...(content !== undefined ? { content } : {}),
        });
      const id = `stw-${randomUUID()}`;
      pendingBySession.set(session.hash, pending + 1);
      options.waiting?.(true);
      try {
        const answer = options.mailbox.wait(answerBox(session.hash, id), {
          timeoutMs: options.limits.requestTimeoutMs,
          signal,
        });
        // Sent only once the wait is registered, so an answer cannot arrive before it.
        await options.send({ jsonrpc: '2.0', id, method, params });
        count(counts, method);
        let payload: string;
        try {
          payload = await answer;
        } catch (error) {
          if (!(error instanceof MailboxWaitError)) throw error;
          if (error.reason === 'aborted') {
            // The upstream cancelled its request: so is the agent's copy of it.
            await options
              .send({
                jsonrpc: '2.0',
                method: 'notifications/cancelled',
                params: { requestId: id, reason: 'The upstream cancelled the request.' },
              })
              .catch(() => {});
            count(counts, 'notifications/cancelled');
            // The upstream, the requester here, closed its request.
            await complete(REFUSAL_CATALOG.client_gone.status, 0, 'cancelled_by_upstream');
            throw new McpError(ErrorCode.ConnectionClosed, 'Request was cancelled');
          }
          await complete(
            REFUSAL_CATALOG.upstream_timeout.status,
            0,
            error.reason === 'timeout' ? 'agent_timeout' : 'agent_unavailable',
          );
          throw refusalError({
            code: 'upstream_timeout',
            message: `The agent did not answer ${method} in time.`,
            recordId: verdict.recordId,
          });
        }
        const bytes = Buffer.byteLength(payload);
        const message = parseAnswer(payload);
        if (message === undefined || bytes > options.limits.maxMessageBytes) {
          // A gateway's bad answer from the far side: the status of an unusable upstream.
          await complete(REFUSAL_CATALOG.upstream_unavailable.status, bytes, 'bad_answer');
          throw new McpError(
            ErrorCode.InternalError,
            `The agent's answer to ${method} was not usable.`,
          );
        }
        if ('error' in message) {
          await complete(200, bytes, `jsonrpc_error ${message.error.code}`);
          throw new JsonRpcError(message.error.code, message.error.message, message.error.data);
        }
        await complete(200, bytes, undefined, message.result);
        return message.result;
      } finally {
        options.waiting?.(false);
        const left = (pendingBySession.get(session.hash) ?? 1) - 1;
        if (left > 0) pendingBySession.set(session.hash, left);
        else pendingBySession.delete(session.hash);
      }
    },
  };
}

type Answer =
  | { readonly result: Result }
  | {
      readonly error: { readonly code: number; readonly message: string; readonly data?: unknown };
    };

/** The agent's JSON-RPC response, as the mailbox carried it; undefined when it is not one. */
function parseAnswer(payload: string): Answer | undefined {
  let message: unknown;
  try {
    message = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof message !== 'object' || message === null) return undefined;
  if ('result' in message && typeof message.result === 'object' && message.result !== null) {
    return { result: message.result as Result };
  }
  if ('error' in message && typeof message.error === 'object' && message.error !== null) {
    const { code, message: text, data } = message.error as Record<string, unknown>;
    if (typeof code === 'number' && Number.isSafeInteger(code) && typeof text === 'string') {
      return { error: { code, message: text, ...(data !== undefined ? { data } : {}) } };
    }
  }
  return undefined;
}
