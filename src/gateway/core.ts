import { isIP } from 'node:net';
import type { Insertable, Kysely } from 'kysely';
import type { ApiKeyService } from '../access/index.js';
import { SYSTEM_ACTOR, type ChangeContext } from '../actors/index.js';
import type { JoinTokenService } from '../attestation/index.js';
import { auditRow } from '../audit/index.js';
import {
  DEFAULT_GATEWAY_REFUSAL_WINDOW_SECONDS,
  DEFAULT_GATEWAY_STORE_TIMEOUT_MS,
} from '../config/index.js';
import { StewardError } from '../errors/index.js';
import type { Entity, GatewayDecision, PolicyService } from '../policy/index.js';
import { uid } from '../policy/index.js';
import type { SecretReader } from '../secrets/index.js';
import type { Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import type { Database, Store } from '../store/index.js';
import type { AuditEventTable } from '../store/schema.js';
import {
  TokenError,
  type AccessTokenClaims,
  type Revoker,
  type TokenVerifier,
} from '../tokens/index.js';
import type { Upstream } from '../upstreams/index.js';
import { DeadlineExceeded, startDeadline, waitWithin, type Deadline } from './deadline.js';
import {
  checkArgumentBounds,
  createRateLimiter,
  DEFAULT_LIMITS,
  type RateLimit,
} from './limits.js';
import { createCallRecorder } from './record.js';
import { createRefusalAggregator } from './refusal-counter.js';
import { REFUSAL_CATALOG, type GatewayRefusal } from './refusals.js';
import { scanValue, type CredentialMatch } from './scanner.js';
import { noopTracer, type GatewaySpan, type GatewayTracer } from './tracing.js';
import type {
  EnforcementCore,
  GatewayCall,
  GatewayOutcome,
  GatewayAuthenticated,
  GatewayRefused,
  GatewayVerdict,
} from './types.js';

/** What the enforcement core needs; `main()` wires the real services, tests may wire their own. */
export interface EnforcementDeps {
  readonly db: Kysely<Database>;
  /** The audit trail's group-commit path (the store's `appendAuditEvents`). */
  readonly appendAuditEvents: Store['appendAuditEvents'];
  readonly clock: Clock;
  /** Steward's issuer URL: gateway audiences are named under it. */
  readonly issuer: string;
  readonly verifier: TokenVerifier;
  readonly policies: Pick<PolicyService, 'decideGatewayCall'>;
  readonly upstreams: { resolve(name: string): Promise<Upstream | undefined> };
  readonly secrets: SecretReader;
  /** For credentials found in traffic: Steward's own are revoked at once. */
  readonly revoker: Pick<Revoker, 'revoke'>;
  readonly apiKeys: Pick<ApiKeyService, 'authenticate' | 'revoke'>;
  readonly joinTokens: Pick<JoinTokenService, 'redeem'>;
  readonly tracer?: GatewayTracer;
  readonly limits?: {
    readonly perIdentity?: RateLimit;
    readonly perIdentityUpstream?: RateLimit;
    readonly perUpstream?: RateLimit;
    /** Requests without a valid token, per client address: beyond it 429, before any record. */
    readonly unauthenticated?: RateLimit;
  };
  /**
   * How long a call may wait on the store (its lookups, revocations and decision record) before
   * it is refused with 503 and nothing is forwarded; counted from the request's arrival.
   */
  readonly storeTimeoutMs?: number;
  /** The window in which refusals of one caller are counted into one record (default 60 s). */
  readonly refusalWindowMs?: number;
  /** Where failures that cannot reach the caller go (a failed outcome record, a failed revocation). */
  readonly onError?: (message: string, error: unknown) => void;
}

/** The audience that admits a token at every upstream of the gateway: `<issuer>/gw`. */
export function gatewayAudience(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/gw`;
}

/** The audiences a token may carry to call `upstream`: its name, its gateway URLs, the gateway. */
export function upstreamAudiences(issuer: string, upstream: string): string[] {
  const gw = gatewayAudience(issuer);
  return [upstream, `${gw}/http/${upstream}`, `${gw}/mcp/${upstream}`, gw];
}

/**
 * What an agent that sent an admin API key or a join token is told, and the reason counted: the
 * prefix of Steward's formats says what it is, without a lookup.
 */
const WRONG_CREDENTIALS: readonly { prefix: string; reason: string; message: string }[] = [
  {
    prefix: 'stw_key_',
    reason: 'api_key',
    message:
      'This is a Steward API key; the gateway takes access tokens. Get one with `steward token exchange` (or let the SDK do it) and send it as "Authorization: Bearer <access token>".',
  },
  {
    prefix: 'stw_join_',
    reason: 'join_token',
    message:
      'This is a join token; the gateway takes access tokens. Exchange it for one with `steward token exchange` (or let the SDK do it) and send that instead.',
  },
];

/** A wait on the store on a call's path failed or outlasted the call's deadline. */
class StoreUnavailable extends Error {
  constructor(readonly failure: unknown) {
    super('the store is not available', { cause: failure });
    this.name = 'StoreUnavailable';
  }
  get timedOut(): boolean {
    return this.failure instanceof DeadlineExceeded;
  }
}

/**
 * `pending` within `deadline`; any failure other than a domain refusal (a `StewardError`) is the
 * store's, so the call is refused with 503 rather than a 500.
 */
async function storeWait<T>(deadline: Deadline, pending: Promise<T>): Promise<T> {
  try {
    return await deadline.wait(pending);
  } catch (error) {
    if (error instanceof StewardError) throw error;
    throw new StoreUnavailable(error);
  }
}

/** The caller, from its token: its claims, or why it is not accepted (and what to tell it). */
type Caller =
  | { readonly claims: AccessTokenClaims }
  | { readonly claims?: undefined; readonly reason: string; readonly message: string };

/** The MCP method each action answers to, for `mcp.method.name`. */
const MCP_METHODS: Readonly<Record<string, string>> = {
  invoke_tool: 'tools/call',
  list_tools: 'tools/list',
  read_resource: 'resources/read',
  get_prompt: 'prompts/get',
  subscribe_resource: 'resources/subscribe',
  elicit: 'elicitation/create',
  sample: 'sampling/createMessage',
  list_roots: 'roots/list',
};

/** The Cedar entity type of each action's resource (see the schema). */
const RESOURCE_TYPES: Readonly<Record<string, string>> = {
  invoke_tool: 'Tool',
  list_tools: 'Upstream',
  read_resource: 'Resource',
  get_prompt: 'Prompt',
  http_request: 'Operation',
  subscribe_resource: 'Resource',
  listen: 'Upstream',
  elicit: 'Upstream',
  sample: 'Upstream',
  list_roots: 'Upstream',
};

interface Pending {
  readonly span: GatewaySpan;
  readonly identityId: string;
  readonly service: string;
  readonly team: string;
  readonly upstream: string;
  readonly recordContent: boolean;
  readonly requestId: string;
  readonly startedMs: number;
  /** The call's store deadline (`performance.now()` time line): not forwarded after it. */
  readonly deadlineAt: number;
  /** The secret injected into the call, to mark if the upstream echoes it back. */
  readonly secret?: { readonly name: string; readonly value: string };
}

/** A call past `resolveUpstream`: what the later steps of `check` share. */
interface CallInProgress {
  readonly outcome: 'resolved';
  /** The call as asked, its operation named by the upstream's record. */
  readonly call: GatewayCall;
  readonly span: GatewaySpan;
  readonly deadline: Deadline;
  readonly claims: AccessTokenClaims;
  readonly upstream: Upstream;
}

/** Cedar's decision on a call, and the verdict it means for it. */
interface Decided {
  readonly outcome: 'decided';
  readonly decided: GatewayDecision;
  readonly verdict: 'allow' | 'deny' | 'no_decision' | 'approval_required';
  /** The group an `@approval` annotation names, when the allowing policy asks for one. */
  readonly approvalGroup: string | undefined;
}

/** A refusal, its status from the catalogue. */
function refusal(code: GatewayRefusal, message: string, recordId?: string): GatewayRefused {
  return {
    outcome: 'refuse',
    code,
    status: REFUSAL_CATALOG[code].status,
    message,
    ...(recordId !== undefined ? { recordId } : {}),
  };
}

/** The span of a call whose span has ended already (a refusal recorded after the fact). */
const ENDED_SPAN: GatewaySpan = { traceparent: '', setAttributes() {}, end() {} };

/** Calls decided but not completed yet; bounded so that adapters that never complete cannot leak. */
const MAX_PENDING = 50_000;

/**
 * The enforcement core: the one path every gateway call takes, whatever its protocol. It never
 * throws for a refusal; it fails closed (no verified token, no decision or no durable record is a
 * refusal) and only an `allow` carries the credential to inject.
 *
 * @example
 * const verdict = await core.check({ token, upstream: 'crm', action: 'http_request', … });
 * if (verdict.outcome === 'allow') { forward(verdict.inject); await core.complete({ … }); }
 */
export function createEnforcementCore(deps: EnforcementDeps): EnforcementCore & {
  /** Resolves when every record submitted so far, counted refusals included, has been written. */
  drain(): Promise<void>;
} {
  const { clock, issuer, verifier, policies, upstreams, secrets } = deps;
  const tracer = deps.tracer ?? noopTracer;
  const recorder = createCallRecorder({ append: deps.appendAuditEvents });
  const limiter = createRateLimiter({ clock });
  // Apart, so that a flood from many addresses cannot sweep the workloads' buckets away.
  const anonymousLimiter = createRateLimiter({ clock });
  const limits = {
    perIdentity: deps.limits?.perIdentity ?? DEFAULT_LIMITS.perIdentity,
    perIdentityUpstream: deps.limits?.perIdentityUpstream ?? DEFAULT_LIMITS.perIdentityUpstream,
    perUpstream: deps.limits?.perUpstream ?? DEFAULT_LIMITS.perUpstream,
    unauthenticated: deps.limits?.unauthenticated ?? DEFAULT_LIMITS.unauthenticated,
  };
  const storeTimeoutMs = deps.storeTimeoutMs ?? DEFAULT_GATEWAY_STORE_TIMEOUT_MS;
  const onError = deps.onError ?? (() => {});
  const refusals = createRefusalAggregator({
    clock,
    windowMs: deps.refusalWindowMs ?? DEFAULT_GATEWAY_REFUSAL_WINDOW_SECONDS * 1000,
    write: (rows) => recorder.writeLater(rows),
    onError,
  });
  const pending = new Map<string, Pending>();

  function spanFor(call: GatewayCall): GatewaySpan {
    if (!tracer.recording) {
      return tracer.start({ name: '', attributes: {}, traceparent: call.traceparent });
    }
    const mcpMethod = MCP_METHODS[call.action];
    if (call.action === 'http_request') {
      return tracer.start({
        name: `${call.method ?? 'HTTP'} ${call.upstream}`,
        traceparent: call.traceparent,
        attributes: {
          'http.request.method': call.method ?? '',
          'url.path': call.path ?? '',
          'steward.upstream': call.upstream,
          'steward.operation': call.operation,
          'client.address': call.clientAddress,
        },
      });
    }
    const tool = call.action === 'invoke_tool';
    return tracer.start({
      name: tool
        ? `execute_tool ${call.operation}`
        : `${mcpMethod ?? call.action} ${call.operation}`,
      traceparent: call.traceparent,
      attributes: {
        'gen_ai.operation.name': tool ? 'execute_tool' : (mcpMethod ?? call.action),
        ...(tool ? { 'gen_ai.tool.name': call.operation } : {}),
        ...(mcpMethod ? { 'mcp.method.name': mcpMethod } : {}),
        'steward.upstream': call.upstream,
        'client.address': call.clientAddress,
      },
    });
  }

  function workloadContext(
    claims: AccessTokenClaims | undefined,
    requestId: string,
  ): ChangeContext {
    return claims
      ? {
          actor: {
            ref: `workload:${claims.client_id}`,
            role: 'workload',
            identityId: claims.client_id,
          },
          requestId,
        }
      : { actor: { ref: 'anonymous', role: 'workload' }, requestId };
  }

  /** What a refusal's record says the call asked for. */
  function askedFor(call: GatewayCall, span: GatewaySpan) {
    return {
      action: call.action,
      operation: call.operation,
      method: call.method ?? null,
      path: call.path ?? null,
      traceparent: span.traceparent,
    };
  }

  /**
   * Who is calling. No database is asked: the verifier and the revocation list are in memory,
   * and a Steward API key or join token is told apart from an access token by its prefix.
   */
  function verifyCaller(call: GatewayCall): Caller {
    const token = call.token;
    if (token === undefined || token === '') {
      return {
        reason: 'no_token',
        message: 'Send an access token as "Authorization: Bearer <token>".',
      };
    }
    const wrong = WRONG_CREDENTIALS.find((credential) => token.startsWith(credential.prefix));
    if (wrong !== undefined) return { reason: wrong.reason, message: wrong.message };
    try {
      return { claims: verifier.verify(token, upstreamAudiences(issuer, call.upstream)).claims };
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      return { reason: error.code, message: `The access token is not accepted (${error.code}).` };
    }
  }

  /**
   * Counts a refusal into its window's record instead of writing one of its own: how the
   * gateway refuses callers without a valid token, rate-limited callers and calls the store was
   * too slow for, so that a flood of them costs a few records a window.
   */
  function refuseCounted(
    call: GatewayCall,
    span: GatewaySpan,
    code: GatewayRefusal,
    reason: string,
    message: string,
    extra: { claims?: AccessTokenClaims; team?: string; retryAfterSeconds?: number } = {},
  ): GatewayRefused {
    const status = REFUSAL_CATALOG[code].status;
    span.end({ status, error: code });
    const recordId = refusals.count({
      code,
      status,
      clientAddress: call.clientAddress,
      upstream: call.upstream,
      identityId: extra.claims?.client_id,
      service: extra.claims?.service,
      team: extra.team,
      reason,
      sample: { ...askedFor(call, span), requestId: call.requestId },
    });
    return {
      outcome: 'refuse',
      code,
      status,
      message,
      recordId,
      ...(extra.retryAfterSeconds !== undefined
        ? { retryAfterSeconds: extra.retryAfterSeconds }
        : {}),
    };
  }

  /**
   * A caller without a valid token: limited per client address before anything else (429 past
   * the limit), and counted, never recorded one by one.
   */
  function refuseAnonymous(
    call: GatewayCall,
    span: GatewaySpan,
    code: GatewayRefusal,
    caller: Extract<Caller, { reason: string }>,
    message: string,
  ): GatewayRefused {
    // One bucket per address, however the socket spells it (`::ffff:10.0.0.1` is `10.0.0.1`).
    const address = cedarAddress(call.clientAddress) ?? call.clientAddress;
    const taken = anonymousLimiter.take(address, limits.unauthenticated);
    if (!taken.allowed) {
      return refuseCounted(
        call,
        span,
        'rate_limited',
        caller.reason,
        'Too many requests without a valid access token from this address; retry later.',
        { retryAfterSeconds: taken.retryAfterSeconds },
      );
    }
    return refuseCounted(call, span, code, caller.reason, message);
  }

  /**
   * Takes a token from the caller's `bucket` (the identity's; its own on `upstream`; `upstream`'s
   * for everyone): past the limit, the counted 429.
   */
  function overLimit(
    call: GatewayCall,
    span: GatewaySpan,
    claims: AccessTokenClaims,
    bucket: 'per_identity' | 'per_identity_upstream' | 'per_upstream',
    upstream?: Upstream,
  ): GatewayRefused | undefined {
    const [key, limit] =
      bucket === 'per_identity' || upstream === undefined
        ? [`id:${claims.client_id}`, limits.perIdentity]
        : bucket === 'per_identity_upstream'
          ? [
              `idup:${claims.client_id}:${upstream.name}`,
              upstream.rateLimit ?? limits.perIdentityUpstream,
            ]
          : [`up:${upstream.name}`, limits.perUpstream];
    const taken = limiter.take(key, limit);
    if (taken.allowed) return undefined;
    return refuseCounted(call, span, 'rate_limited', bucket, 'Too many calls; retry later.', {
      claims,
      ...(upstream !== undefined ? { team: upstream.team } : {}),
      retryAfterSeconds: taken.retryAfterSeconds,
    });
  }

  /** 503: the store did not answer in time (or failed); nothing was, or will be, forwarded. */
  function refuseUnavailable(
    call: GatewayCall,
    span: GatewaySpan,
    failure: StoreUnavailable,
    extra: { claims?: AccessTokenClaims; team?: string },
  ): GatewayRefused {
    if (!failure.timedOut) onError("gateway: the store failed on a call's path", failure.failure);
    return refuseCounted(
      call,
      span,
      'audit_unavailable',
      failure.timedOut ? 'store_timeout' : 'store_error',
      failure.timedOut
        ? `Steward's database did not answer within ${storeTimeoutMs} ms; the call is not forwarded.`
        : "Steward's database is not available; the call is not forwarded.",
      extra,
    );
  }

  /** Records a refusal before any decision (best effort: the call is refused either way). */
  async function refuse(
    call: GatewayCall,
    span: GatewaySpan,
    deadline: Deadline,
    code: GatewayRefusal,
    message: string,
    extra: {
      claims?: AccessTokenClaims;
      team?: string;
      rows?: Insertable<AuditEventTable>[];
      recordId?: string;
    } = {},
  ): Promise<GatewayRefused> {
    const status = REFUSAL_CATALOG[code].status;
    span.end({ status, error: code });
    const recordId = extra.recordId ?? newId(clock.now());
    const row = auditRow(clock, workloadContext(extra.claims, call.requestId), {
      type: 'gateway.refused',
      targetKind: 'gateway_call',
      targetId: recordId,
      team: extra.team,
      service: extra.claims?.service,
      identityId: extra.claims?.client_id,
      after: {
        code,
        status,
        upstream: call.upstream,
        ...askedFor(call, span),
        clientAddress: call.clientAddress,
      },
    });
    await deadline
      .wait(recorder.write([...(extra.rows ?? []), row], deadline.signal))
      .catch((error: unknown) => {
        onError('gateway: could not record a refusal', error);
      });
    return { outcome: 'refuse', code, status, message, recordId };
  }

  /**
   * Revokes the Steward credentials among `matches` and returns the finding events. A token
   * that is already dead (expired, revoked, not ours) needs no revocation, only the finding.
   */
  async function handleFindings(
    matches: readonly CredentialMatch[],
    where: 'arguments' | 'result',
    call: { upstream: string; requestId: string; recordId: string },
    claims: AccessTokenClaims | undefined,
  ): Promise<Insertable<AuditEventTable>[]> {
    const system: ChangeContext = { actor: SYSTEM_ACTOR, requestId: call.requestId };
    const reason = `credential exposed in gateway traffic (${call.upstream}, ${where})`;
    const rows: Insertable<AuditEventTable>[] = [];
    const seen = new Set<string>();
    for (const match of matches) {
      if (seen.has(match.value)) continue;
      seen.add(match.value);
      let revoked: string | null;
      try {
        revoked = await revokeIfSteward(system, match, reason);
      } catch (error) {
        onError('gateway: could not revoke an exposed credential', error);
        revoked = 'failed';
      }
      rows.push(
        auditRow(clock, system, {
          type: 'finding.credential_exposed',
          targetKind: 'finding',
          targetId: newId(clock.now()),
          service: claims?.service,
          identityId: claims?.client_id,
          after: {
            kind: match.kind,
            where: `${where}${match.where}`,
            upstream: call.upstream,
            call: call.recordId,
            revoked,
            mapping: ['OWASP-NHI-2025:NHI2', 'NIST-CSF-2.0:PR.AA-01'],
          },
        }),
      );
    }
    return rows;
  }

  /** Revokes `match` when it is a live Steward credential; returns what was revoked, or null. */
  async function revokeIfSteward(
    system: ChangeContext,
    match: CredentialMatch,
    reason: string,
  ): Promise<string | null> {
    switch (match.kind) {
      case 'jwt': {
        let jti: string;
        try {
          jti = verifier.verify(match.value).claims.jti;
        } catch (error) {
          if (error instanceof TokenError) return null; // not ours, or dead already
          throw error;
        }
        // The lineage: whatever was renewed from the exposed token dies with it.
        await deps.revoker.revoke(system, { kind: 'lineage', jti }, reason);
        return `token:${jti}`;
      }
      case 'steward_api_key': {
        const actor = await deps.apiKeys.authenticate(match.value);
        if (!actor?.ref.startsWith('apikey:')) return null;
        const id = actor.ref.slice('apikey:'.length);
        await deps.apiKeys.revoke(system, id);
        return `apikey:${id}`;
      }
      case 'steward_join_token': {
        // Spending the token is revoking it: a join token is good for one redemption only.
        const result = await deps.db
          .transaction()
          .execute((trx) => deps.joinTokens.redeem(trx, match.value, 'revoked: exposed'));
        return result.ok ? `join_token:${result.joinTokenId}` : null;
      }
      default:
        return null;
    }
  }

  function entitiesFor(
    upstream: Upstream,
    call: GatewayCall,
  ): {
    resource: { type: string; id: string };
    entities: Entity[];
    sensitive: boolean;
  } {
    const upstreamEntity: Entity = {
      uid: uid('Upstream', upstream.name),
      attrs: {
        name: upstream.name,
        kind: upstream.kind,
        classification: upstream.classification,
        team: upstream.team,
      },
      parents: [uid('Team', upstream.team)],
    };
    const type = RESOURCE_TYPES[call.action] ?? 'Operation';
    if (type === 'Upstream') {
      return { resource: upstreamEntity.uid, entities: [upstreamEntity], sensitive: false };
    }
    const declared = upstream.operations.find((op) => op.name === call.operation);
    const sensitive = (declared?.sensitive ?? false) || upstream.sensitive.includes(call.operation);
    const id = `${upstream.name}/${call.operation}`;
    const attrs =
      type === 'Tool' || type === 'Operation'
        ? { name: call.operation, upstream: upstream.name, sensitive }
        : { name: call.operation, upstream: upstream.name };
    const resource: Entity = { uid: uid(type, id), attrs, parents: [upstreamEntity.uid] };
    return { resource: resource.uid, entities: [resource, upstreamEntity], sensitive };
  }

  /** Cedar's `ip()` takes plain IPv4 and IPv6; Node reports IPv4 peers as `::ffff:a.b.c.d`. */
  function cedarAddress(address: string): string | undefined {
    const plain =
      address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    return isIP(plain) === 0 ? undefined : plain;
  }

  /** The call's part of the Cedar context (the policy service adds environment, task, time). */
  function decisionContext(call: GatewayCall): Record<string, unknown> {
    const address = cedarAddress(call.clientAddress);
    return {
      ...(call.method !== undefined ? { method: call.method } : {}),
      ...(call.path !== undefined ? { path: call.path } : {}),
      ...(address !== undefined ? { clientAddress: address } : {}),
      ...(call.arguments !== undefined ? { arguments: call.arguments } : {}),
    };
  }

  /** Cedar's decision on `call` by the token's workload, its waits on the store within `deadline`. */
  function policyDecision(
    call: GatewayCall,
    claims: AccessTokenClaims,
    upstream: Upstream,
    deadline: Deadline,
  ): Promise<GatewayDecision> {
    const { resource, entities } = entitiesFor(upstream, call);
    return storeWait(
      deadline,
      policies.decideGatewayCall({
        identityId: claims.client_id,
        task: claims.task,
        action: call.action,
        resource,
        context: decisionContext(call),
        entities,
      }),
    );
  }

  function rememberPending(recordId: string, entry: Pending): void {
    if (pending.size >= MAX_PENDING) {
      const oldest = pending.keys().next();
      if (!oldest.done) {
        pending.get(oldest.value)?.span.end({ error: 'not_completed' });
        pending.delete(oldest.value);
      }
    }
    pending.set(recordId, entry);
  }

  /**
   * Listing filters: would this caller be allowed `call`? The same token check and the same
   * decision as `check`, but nothing is recorded and no rate-limit token is spent — a listing is
   * decided and recorded once, by `check`, and must not cost a record and a token per entry.
   * Any failure hides the entry (fail closed), a store too slow to answer included; a call that
   * needs approval stays visible.
   */
  async function visible(call: GatewayCall): Promise<boolean> {
    const caller = verifyCaller(call);
    if (caller.claims === undefined) return false;
    const { claims } = caller;
    const deadline = startDeadline(storeTimeoutMs);
    try {
      const upstream = await storeWait(deadline, upstreams.resolve(call.upstream));
      if (upstream === undefined) return false;
      const decided = await policyDecision(call, claims, upstream, deadline);
      return decided.errors.length === 0 && decided.decision === 'allow';
    } catch (error) {
      if (error instanceof StewardError || error instanceof StoreUnavailable) return false;
      throw error;
    } finally {
      deadline.release();
    }
  }

  /** Who is calling, from the token alone; a caller without a valid one is refused, and counted. */
  function authenticateCaller(
    call: GatewayCall,
    span: GatewaySpan,
  ): GatewayAuthenticated | GatewayRefused {
    const caller = verifyCaller(call);
    if (caller.claims !== undefined) return { outcome: 'authenticated', claims: caller.claims };
    return refuseAnonymous(call, span, 'unauthenticated', caller, caller.message);
  }

  function authenticate(call: GatewayCall): GatewayAuthenticated | GatewayRefused {
    return authenticateCaller(call, spanFor(call));
  }

  async function check(call: GatewayCall): Promise<GatewayVerdict> {
    const span = spanFor(call);
    // Every wait on the store below is bounded by this deadline, counted from the request's
    // arrival: past it the call is refused (503), so nothing reaches an upstream after its
    // caller may have given up and retried.
    const deadline = startDeadline(storeTimeoutMs, call.receivedAt);
    const known: { claims?: AccessTokenClaims; team?: string } = {};
    try {
      return await checkCall(call, span, deadline, known);
    } catch (error) {
      if (!(error instanceof StoreUnavailable)) throw error;
      return refuseUnavailable(call, span, error, known);
    } finally {
      deadline.release();
    }
  }

  /**
   * `check`'s steps, in order: each hands its result to the next or refuses the call. The order
   * is the contract: nothing costs a lookup before the token is valid and the caller within its
   * rate, nothing reads the arguments whole before they are bounded, and nothing is forwarded
   * before the decision is durably recorded. A `StoreUnavailable` thrown from any wait on the
   * store becomes a 503 in `check`.
   */
  async function checkCall(
    asked: GatewayCall,
    span: GatewaySpan,
    deadline: Deadline,
    known: { claims?: AccessTokenClaims; team?: string },
  ): Promise<GatewayVerdict> {
    const startedMs = clock.now();
    const caller = authenticateCaller(asked, span);
    if (caller.outcome === 'refuse') return caller;
    const { claims } = caller;
    known.claims = claims;
    span.setAttributes({ 'steward.identity': claims.client_id, 'steward.service': claims.service });

    const tooOften = limitCaller(asked, span, claims);
    if (tooOften !== undefined) return tooOften;

    const resolved = await resolveUpstream(asked, { span, deadline, claims });
    if (resolved.outcome === 'refuse') return resolved;
    known.team = resolved.upstream.team;

    const refused = limitOnUpstream(resolved) ?? (await boundArguments(resolved));
    if (refused !== undefined) return refused;

    const recordId = newId(clock.now());
    const findings = await scanArguments(resolved, recordId);

    const decided = await decide(resolved, recordId, findings);
    if (decided.outcome === 'refuse') return decided;

    const recorded = await recordDecision(resolved, decided, recordId, findings, startedMs);
    if (recorded.outcome === 'refuse') return recorded;

    return credentialToInject(resolved, decided, recordId, recorded.entry);
  }

  /**
   * How often this identity calls, before anything costs a lookup or a record: every refusal
   * recorded after it is then paid for by a token of this bucket.
   */
  function limitCaller(
    call: GatewayCall,
    span: GatewaySpan,
    claims: AccessTokenClaims,
  ): GatewayRefused | undefined {
    return overLimit(call, span, claims, 'per_identity');
  }

  /**
   * What it calls: the upstream, of the kind the adapter speaks, taking a body of the declared
   * size. Only after authentication, so an unauthenticated caller learns nothing about upstreams.
   */
  async function resolveUpstream(
    asked: GatewayCall,
    at: Pick<CallInProgress, 'span' | 'deadline' | 'claims'>,
  ): Promise<CallInProgress | GatewayRefused> {
    const { span, deadline, claims } = at;
    const upstream = await storeWait(deadline, upstreams.resolve(asked.upstream));
    if (upstream === undefined) {
      return refuse(
        asked,
        span,
        deadline,
        'upstream_not_found',
        `No upstream ${JSON.stringify(asked.upstream)} exists.`,
        { claims },
      );
    }
    const call =
      asked.operationOf !== undefined
        ? { ...asked, operation: asked.operationOf(upstream) }
        : asked;
    const wantedKind = call.action === 'http_request' ? 'http' : 'mcp';
    if (upstream.kind !== wantedKind) {
      return refuse(
        call,
        span,
        deadline,
        'upstream_not_found',
        `Upstream ${JSON.stringify(call.upstream)} is not an ${wantedKind} upstream.`,
        { claims, team: upstream.team },
      );
    }
    if (call.declaredBytes !== undefined && call.declaredBytes > upstream.maxRequestBytes) {
      return refuse(
        call,
        span,
        deadline,
        'payload_too_large',
        `The request body is larger than ${upstream.maxRequestBytes} bytes.`,
        { claims, team: upstream.team },
      );
    }
    return { outcome: 'resolved', call, span, deadline, claims, upstream };
  }

  /** How often: per identity on this upstream, and per upstream. */
  function limitOnUpstream(at: CallInProgress): GatewayRefused | undefined {
    for (const bucket of ['per_identity_upstream', 'per_upstream'] as const) {
      const refused = overLimit(at.call, at.span, at.claims, bucket, at.upstream);
      if (refused !== undefined) return refused;
    }
    return undefined;
  }

  /**
   * Bounds on the arguments, before anything reads them whole: what the scanner, the Cedar
   * request and the record then see is bounded in size, count and depth.
   */
  async function boundArguments(at: CallInProgress): Promise<GatewayRefused | undefined> {
    const outOfBounds = checkArgumentBounds(at.call.arguments ?? {});
    if (outOfBounds === undefined) return undefined;
    return refuse(at.call, at.span, at.deadline, outOfBounds.code, outOfBounds.message, {
      claims: at.claims,
      team: at.upstream.team,
    });
  }

  /**
   * Credentials in the arguments: Steward's own revoked at once; the findings, recorded with the
   * decision (the record itself keeps the arguments redacted).
   */
  async function scanArguments(
    at: CallInProgress,
    recordId: string,
  ): Promise<{ readonly redacted: unknown; readonly rows: Insertable<AuditEventTable>[] }> {
    const scanned = scanValue(at.call.arguments ?? {});
    const rows =
      scanned.matches.length > 0
        ? await storeWait(
            at.deadline,
            handleFindings(
              scanned.matches,
              'arguments',
              { upstream: at.upstream.name, requestId: at.call.requestId, recordId },
              at.claims,
            ),
          )
        : [];
    return { redacted: scanned.redacted, rows };
  }

  /**
   * Cedar's decision, and what it means for the call. An evaluation that fails is never an
   * allow: an identity that is not active is `forbidden`, anything else `no_decision`.
   */
  async function decide(
    at: CallInProgress,
    recordId: string,
    findings: { readonly rows: Insertable<AuditEventTable>[] },
  ): Promise<Decided | GatewayRefused> {
    let decided: GatewayDecision;
    try {
      decided = await policyDecision(at.call, at.claims, at.upstream, at.deadline);
    } catch (error) {
      if (!(error instanceof StewardError)) throw error;
      const code = error.code === 'principal_invalid' ? 'forbidden' : 'no_decision';
      return refuse(
        at.call,
        at.span,
        at.deadline,
        code,
        code === 'forbidden'
          ? 'The calling identity is not active.'
          : 'No decision could be made for this call.',
        { claims: at.claims, team: at.upstream.team, rows: findings.rows, recordId },
      );
    }
    const approval = Object.entries(decided.annotations).find(
      ([, a]) => a['approval'] !== undefined,
    );
    const verdict =
      decided.errors.length > 0
        ? 'no_decision'
        : decided.decision === 'deny'
          ? 'deny'
          : approval
            ? 'approval_required'
            : 'allow';
    return { outcome: 'decided', decided, verdict, approvalGroup: approval?.[1]['approval'] };
  }

  /**
   * The decision, recorded durably before anything is forwarded (with the findings, in one
   * write); then a call that is not allowed is refused, its refusal named by that record.
   */
  async function recordDecision(
    at: CallInProgress,
    decision: Decided,
    recordId: string,
    findings: { readonly redacted: unknown; readonly rows: Insertable<AuditEventTable>[] },
    startedMs: number,
  ): Promise<{ readonly outcome: 'recorded'; readonly entry: Pending } | GatewayRefused> {
    const { call, span, deadline, claims, upstream } = at;
    const { decided, verdict } = decision;
    const recordedContext: Record<string, unknown> = { ...decided.record.context };
    if (upstream.recordContent) {
      if (recordedContext['arguments'] !== undefined) {
        recordedContext['arguments'] = scanValue(recordedContext['arguments']).redacted;
      }
    } else {
      // Metadata only, unless the upstream asks for content: the argument names, not values.
      delete recordedContext['arguments'];
    }
    const decisionRow = auditRow(clock, workloadContext(claims, call.requestId), {
      type: `decision.${decided.decision}`,
      targetKind: 'decision',
      targetId: recordId,
      team: decided.principal.team,
      service: decided.principal.service,
      identityId: claims.client_id,
      after: {
        ...decided.record,
        context: recordedContext,
        gateway: {
          upstream: upstream.name,
          upstreamTeam: upstream.team,
          action: call.action,
          operation: call.operation,
          sensitive: entitiesFor(upstream, call).sensitive,
          method: call.method ?? null,
          path: call.path ?? null,
          argumentNames: Object.keys(call.arguments ?? {}),
          ...(upstream.recordContent ? { arguments: findings.redacted } : {}),
          verdict,
          jti: claims.jti,
          task: claims.task ?? null,
          traceparent: span.traceparent,
          findings: findings.rows.length,
        },
      },
    });
    const entry: Pending = {
      span,
      identityId: claims.client_id,
      service: claims.service,
      team: upstream.team,
      upstream: upstream.name,
      recordContent: upstream.recordContent,
      requestId: call.requestId,
      startedMs,
      deadlineAt: deadline.endsAt,
    };
    // Withdrawn from the queue if the deadline passes while it still waits for a batch.
    const written = recorder.write([...findings.rows, decisionRow], deadline.signal);
    try {
      await deadline.wait(written);
    } catch (error) {
      if (error instanceof DeadlineExceeded) {
        // Already in a batch, the record may still commit once the store is back: the trail
        // must then say that this call was refused, not forwarded.
        // (Its span ends here, with the refusal.)
        written.then(
          () => notForwarded(recordId, { ...entry, span: ENDED_SPAN }, 503, 'store_timeout'),
          () => {},
        );
      } else {
        onError('gateway: the decision record could not be written', error);
      }
      span.end({ status: REFUSAL_CATALOG.audit_unavailable.status, error: 'audit_unavailable' });
      return refusal(
        'audit_unavailable',
        error instanceof DeadlineExceeded
          ? `The call could not be recorded within ${storeTimeoutMs} ms, so it is not forwarded.`
          : 'The call cannot be recorded, so it is not forwarded.',
        recordId,
      );
    }
    span.setAttributes({ 'steward.decision': verdict, 'steward.record': recordId });

    if (verdict !== 'allow') {
      const code = verdict === 'deny' ? 'forbidden' : verdict;
      span.end({ status: REFUSAL_CATALOG[code].status, error: code });
      return refusal(
        code,
        verdict === 'deny'
          ? 'Policy does not permit this call.'
          : verdict === 'no_decision'
            ? 'A policy could not be evaluated for this call; it is refused.'
            : `This call needs approval (${decision.approvalGroup ?? ''}); approvals are not available yet.`,
        recordId,
      );
    }
    return { outcome: 'recorded', entry };
  }

  /**
   * The credential to inject, read only for an allowed, recorded call: failing to read it is
   * failing closed. A call whose deadline passed meanwhile is not forwarded.
   */
  async function credentialToInject(
    at: CallInProgress,
    decision: Decided,
    recordId: string,
    entry: Pending,
  ): Promise<GatewayVerdict> {
    const { deadline, upstream } = at;
    // A write that returned, but late: a synchronous driver (SQLite) holds the event loop while
    // the disk stalls, so no timer could fire during it. Only the clock can tell.
    if (deadline.passed()) return late(recordId, entry, 'deadline_passed');
    const inject = {
      headers: {} as Record<string, string>,
      query: {} as Record<string, string>,
      scrub: [] as string[],
    };
    if (upstream.credential !== null) {
      let secret: string;
      try {
        secret = await deadline.wait(secrets.reveal(upstream.credential.secret));
      } catch (error) {
        if (error instanceof DeadlineExceeded) return late(recordId, entry, 'store_timeout');
        onError('gateway: the upstream credential could not be read', error);
        notForwarded(recordId, entry, 502, 'credential_unavailable');
        return refusal(
          'upstream_unavailable',
          "The upstream's credential is not available.",
          recordId,
        );
      }
      const value = upstream.credential.format.split('{secret}').join(secret);
      if (upstream.credential.in === 'query') inject.query[upstream.credential.name] = value;
      else if (upstream.credential.in === 'bearer')
        inject.headers['authorization'] = value.startsWith('Bearer ') ? value : `Bearer ${value}`;
      else inject.headers[upstream.credential.name.toLowerCase()] = value;
      inject.scrub.push(secret, ...Object.values(inject.headers), ...Object.values(inject.query));
    }
    // The same for a read of the secret that returned late.
    if (deadline.passed()) return late(recordId, entry, 'deadline_passed');
    rememberPending(
      recordId,
      upstream.credential !== null && inject.scrub[0] !== undefined
        ? { ...entry, secret: { name: upstream.credential.secret, value: inject.scrub[0] } }
        : entry,
    );
    return {
      outcome: 'allow',
      upstream,
      claims: at.claims,
      recordId,
      policies: decision.decided.policies,
      inject,
      traceparent: at.span.traceparent,
    };
  }

  /** Records that a decided call was not forwarded (its outcome), attributed to its caller. */
  function notForwarded(recordId: string, entry: Pending, status: number, reason: string): void {
    rememberPending(recordId, entry);
    void complete({
      recordId,
      status,
      bytes: 0,
      latencyMs: clock.now() - entry.startedMs,
      error: reason === 'credential_unavailable' ? reason : `not_forwarded: ${reason}`,
    });
  }

  /** An allowed call whose deadline passed before it could go: 503, recorded as not forwarded. */
  function late(recordId: string, entry: Pending, reason: string): GatewayRefused {
    notForwarded(recordId, entry, 503, reason);
    return refusal(
      'audit_unavailable',
      `Steward's database did not answer within ${storeTimeoutMs} ms; the call is not forwarded.`,
      recordId,
    );
  }

  function beforeForward(
    verdict: Extract<GatewayVerdict, { outcome: 'allow' }>,
    client: { readonly gone: boolean },
  ): GatewayRefused | undefined {
    const entry = pending.get(verdict.recordId);
    // Unknown (already completed, or evicted): not forwarded, the safe side.
    const overdue = entry === undefined || performance.now() >= entry.deadlineAt;
    if (!client.gone && !overdue) return undefined;
    if (client.gone) {
      void complete({
        recordId: verdict.recordId,
        status: REFUSAL_CATALOG.client_gone.status,
        bytes: 0,
        latencyMs: entry ? clock.now() - entry.startedMs : 0,
        error: 'not_forwarded: client_gone',
      });
      return refusal(
        'client_gone',
        'The client closed the connection before the call was forwarded.',
        verdict.recordId,
      );
    }
    if (entry === undefined) {
      return refusal(
        'audit_unavailable',
        'The call is no longer pending; it is not forwarded.',
        verdict.recordId,
      );
    }
    pending.delete(verdict.recordId);
    return late(verdict.recordId, entry, 'deadline_passed');
  }

  async function complete(outcome: GatewayOutcome): Promise<void> {
    const entry = pending.get(outcome.recordId);
    pending.delete(outcome.recordId);
    entry?.span.end({
      status: outcome.status,
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
    });
    let findingRows: Insertable<AuditEventTable>[] = [];
    let content: unknown;
    if (outcome.content !== undefined) {
      const scanned = scanValue(outcome.content);
      content = scanned.redacted;
      if (scanned.matches.length > 0) {
        // The agent's answer waits on this: bounded like the call's own waits on the store.
        findingRows = await waitWithin(
          storeTimeoutMs,
          handleFindings(
            scanned.matches,
            'result',
            {
              upstream: entry?.upstream ?? '',
              requestId: entry?.requestId ?? '',
              recordId: outcome.recordId,
            },
            undefined,
          ),
        ).catch((error: unknown) => {
          onError('gateway: could not handle a credential found in a result', error);
          return [];
        });
      }
    }
    if (entry?.secret !== undefined) {
      for (const where of outcome.secretEchoed ?? []) {
        findingRows.push(await secretEchoed(entry, entry.secret, where, outcome.recordId));
      }
    }
    const row = auditRow(
      clock,
      entry
        ? {
            actor: {
              ref: `workload:${entry.identityId}`,
              role: 'workload',
              identityId: entry.identityId,
            },
            requestId: entry.requestId,
          }
        : { actor: SYSTEM_ACTOR },
      {
        type: 'gateway.outcome',
        targetKind: 'gateway_call',
        targetId: outcome.recordId,
        team: entry?.team,
        service: entry?.service,
        identityId: entry?.identityId,
        after: {
          upstream: entry?.upstream ?? null,
          status: outcome.status,
          bytes: outcome.bytes,
          latencyMs: outcome.latencyMs,
          error: outcome.error ?? null,
          ...(entry?.recordContent && content !== undefined ? { content } : {}),
          ...(outcome.relayed !== undefined ? { relayed: outcome.relayed } : {}),
          findings: findingRows.length,
        },
      },
    );
    // Nobody waits on an outcome: it joins the next decision's transaction (or is written alone
    // a few milliseconds later), so a call costs one commit, not two. `drain` writes it at once.
    void recorder.writeLater([...findingRows, row]).catch((error: unknown) => {
      onError('gateway: an outcome record could not be written', error);
    });
  }

  /**
   * The upstream sent the injected secret back (the adapter scrubbed it): a finding, and the
   * secret marked for rotation, since an upstream that reflects its credential may also hand it
   * out in forms, or to callers, that Steward does not see.
   */
  async function secretEchoed(
    entry: Pending,
    secret: { readonly name: string; readonly value: string },
    where: string,
    recordId: string,
  ): Promise<Insertable<AuditEventTable>> {
    const marked = await secrets.markExposed(secret.name, secret.value).catch((error: unknown) => {
      onError('gateway: could not mark an exposed secret for rotation', error);
      return false;
    });
    return auditRow(
      clock,
      { actor: SYSTEM_ACTOR, requestId: entry.requestId },
      {
        type: 'finding.credential_exposed',
        targetKind: 'finding',
        targetId: newId(clock.now()),
        team: entry.team,
        service: entry.service,
        identityId: entry.identityId,
        after: {
          kind: 'injected_secret',
          where,
          upstream: entry.upstream,
          call: recordId,
          revoked: null,
          secret: secret.name,
          rotation: marked ? 'due' : 'already_rotated',
          mapping: ['OWASP-NHI-2025:NHI2', 'NIST-CSF-2.0:PR.AA-01'],
        },
      },
    );
  }

  async function reject(
    call: GatewayCall,
    code: GatewayRefusal,
    message: string,
  ): Promise<GatewayRefused> {
    const span = spanFor(call);
    const caller = verifyCaller(call);
    // Without a valid token, as cheap as a missing token: limited per address and counted.
    if (caller.claims === undefined) return refuseAnonymous(call, span, code, caller, message);
    const { claims } = caller;
    const tooOften = overLimit(call, span, claims, 'per_identity');
    if (tooOften !== undefined) return tooOften;
    const deadline = startDeadline(storeTimeoutMs, call.receivedAt);
    try {
      return await refuse(call, span, deadline, code, message, { claims });
    } finally {
      deadline.release();
    }
  }

  return {
    check,
    visible,
    authenticate,
    beforeForward,
    complete,
    reject,
    storeTimeoutMs,
    async drain() {
      await refusals.flush(true);
      await recorder.drain();
    },
  };
}
