import { isIP } from 'node:net';
import type { Insertable, Kysely } from 'kysely';
import { SYSTEM_ACTOR, type ApiKeyService, type ChangeContext } from '../access/index.js';
import type { JoinTokenService } from '../attestation/index.js';
import { auditRow } from '../audit/index.js';
import { StewardError } from '../errors/index.js';
import type { Entity, GatewayDecision, PolicyService } from '../policy/index.js';
import { uid } from '../policy/index.js';
import type { SecretReader } from '../secrets/types.js';
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
import type { Upstream } from '../upstreams/types.js';
import { createRateLimiter, DEFAULT_LIMITS, type RateLimit } from './limits.js';
import { createCallRecorder } from './record.js';
import { scanValue, type CredentialMatch } from './scanner.js';
import { noopTracer, type GatewaySpan, type GatewayTracer } from './tracing.js';
import type {
  EnforcementCore,
  GatewayCall,
  GatewayOutcome,
  GatewayRefusal,
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
  readonly policies: Pick<PolicyService, 'decide'>;
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
  };
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

const STATUS: Readonly<Record<GatewayRefusal, number>> = {
  unauthenticated: 401,
  forbidden: 403,
  upstream_not_found: 404,
  rate_limited: 429,
  audit_unavailable: 503,
  approval_required: 403,
  bad_request: 400,
  payload_too_large: 413,
  upstream_unavailable: 502,
  upstream_timeout: 504,
  no_decision: 403,
  response_too_large: 502,
};

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
  /** The secret injected into the call, to mark if the upstream echoes it back. */
  readonly secret?: { readonly name: string; readonly value: string };
}

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
  /** Resolves when every record submitted so far has been written. */
  drain(): Promise<void>;
} {
  const { clock, issuer, verifier, policies, upstreams, secrets } = deps;
  const tracer = deps.tracer ?? noopTracer;
  const recorder = createCallRecorder({ append: deps.appendAuditEvents });
  const limiter = createRateLimiter({ clock });
  const limits = {
    perIdentity: deps.limits?.perIdentity ?? DEFAULT_LIMITS.perIdentity,
    perIdentityUpstream: deps.limits?.perIdentityUpstream ?? DEFAULT_LIMITS.perIdentityUpstream,
    perUpstream: deps.limits?.perUpstream ?? DEFAULT_LIMITS.perUpstream,
  };
  const onError = deps.onError ?? (() => {});
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

  /** Records a refusal before any decision (best effort: the call is refused either way). */
  async function refuse(
    call: GatewayCall,
    span: GatewaySpan,
    code: GatewayRefusal,
    message: string,
    extra: {
      claims?: AccessTokenClaims;
      team?: string;
      retryAfterSeconds?: number;
      rows?: Insertable<AuditEventTable>[];
      recordId?: string;
      record?: boolean;
    } = {},
  ): Promise<GatewayVerdict> {
    const status = STATUS[code];
    span.end({ status, error: code });
    const recordId = extra.recordId ?? newId(clock.now());
    if (extra.record !== false) {
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
          action: call.action,
          operation: call.operation,
          method: call.method ?? null,
          path: call.path ?? null,
          clientAddress: call.clientAddress,
          traceparent: span.traceparent,
        },
      });
      await recorder.write([...(extra.rows ?? []), row]).catch((error: unknown) => {
        onError('gateway: could not record a refusal', error);
      });
    }
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
   * Any failure hides the entry (fail closed); a call that needs approval stays visible.
   */
  async function visible(call: GatewayCall): Promise<boolean> {
    if (call.token === undefined || call.token === '') return false;
    let claims: AccessTokenClaims;
    try {
      claims = verifier.verify(call.token, upstreamAudiences(issuer, call.upstream)).claims;
    } catch (error) {
      if (error instanceof TokenError) return false;
      throw error;
    }
    const upstream = await upstreams.resolve(call.upstream);
    if (upstream === undefined) return false;
    const { resource, entities } = entitiesFor(upstream, call);
    try {
      const decided = await policies.decide({
        identityId: claims.client_id,
        task: claims.task,
        action: call.action,
        resource,
        context: decisionContext(call),
        entities,
      });
      return decided.errors.length === 0 && decided.decision === 'allow';
    } catch (error) {
      if (error instanceof StewardError) return false;
      throw error;
    }
  }

  async function check(call: GatewayCall): Promise<GatewayVerdict> {
    const startedMs = clock.now();
    const span = spanFor(call);

    // 1. Who is calling: the token, for this upstream (or the whole gateway).
    if (call.token === undefined || call.token === '') {
      return refuse(
        call,
        span,
        'unauthenticated',
        'Send an access token as "Authorization: Bearer <token>".',
      );
    }
    let claims: AccessTokenClaims;
    try {
      claims = verifier.verify(call.token, upstreamAudiences(issuer, call.upstream)).claims;
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      return refuse(
        call,
        span,
        'unauthenticated',
        `The access token is not accepted (${error.code}).`,
      );
    }
    span.setAttributes({ 'steward.identity': claims.client_id, 'steward.service': claims.service });

    // 2. What it calls. Only now, so an unauthenticated caller learns nothing about upstreams.
    const upstream = await upstreams.resolve(call.upstream);
    if (upstream === undefined) {
      return refuse(
        call,
        span,
        'upstream_not_found',
        `No upstream ${JSON.stringify(call.upstream)} exists.`,
        { claims },
      );
    }
    const wantedKind = call.action === 'http_request' ? 'http' : 'mcp';
    if (upstream.kind !== wantedKind) {
      return refuse(
        call,
        span,
        'upstream_not_found',
        `Upstream ${JSON.stringify(call.upstream)} is not an ${wantedKind} upstream.`,
        { claims, team: upstream.team },
      );
    }
    if (call.declaredBytes !== undefined && call.declaredBytes > upstream.maxRequestBytes) {
      return refuse(
        call,
        span,
        'payload_too_large',
        `The request body is larger than ${upstream.maxRequestBytes} bytes.`,
        { claims, team: upstream.team },
      );
    }

    // 3. How often: per identity, per identity on this upstream, and per upstream.
    for (const [key, limit] of [
      [`id:${claims.client_id}`, limits.perIdentity],
      [
        `idup:${claims.client_id}:${upstream.name}`,
        upstream.rateLimit ?? limits.perIdentityUpstream,
      ],
      [`up:${upstream.name}`, limits.perUpstream],
    ] as const) {
      const taken = limiter.take(key, limit);
      if (!taken.allowed) {
        return refuse(call, span, 'rate_limited', 'Too many calls; retry later.', {
          claims,
          team: upstream.team,
          retryAfterSeconds: taken.retryAfterSeconds,
        });
      }
    }

    // 4. Credentials in the arguments: redacted in the record; Steward's own revoked at once.
    const recordId = newId(clock.now());
    const scanned = scanValue(call.arguments ?? {});
    const findingRows =
      scanned.matches.length > 0
        ? await handleFindings(
            scanned.matches,
            'arguments',
            { upstream: upstream.name, requestId: call.requestId, recordId },
            claims,
          )
        : [];

    // 5. Decide.
    const { resource, entities, sensitive } = entitiesFor(upstream, call);
    let decided: GatewayDecision;
    try {
      decided = await policies.decide({
        identityId: claims.client_id,
        task: claims.task,
        action: call.action,
        resource,
        context: decisionContext(call),
        entities,
      });
    } catch (error) {
      if (!(error instanceof StewardError)) throw error;
      const code = error.code === 'principal_invalid' ? 'forbidden' : 'no_decision';
      return refuse(
        call,
        span,
        code,
        code === 'forbidden'
          ? 'The calling identity is not active.'
          : 'No decision could be made for this call.',
        { claims, team: upstream.team, rows: findingRows, recordId },
      );
    }

    // 6. Record the decision durably before anything is forwarded.
    const noDecision = decided.errors.length > 0;
    const approval = Object.entries(decided.annotations).find(
      ([, a]) => a['approval'] !== undefined,
    );
    const verdict: 'allow' | 'deny' | 'no_decision' | 'approval_required' = noDecision
      ? 'no_decision'
      : decided.decision === 'deny'
        ? 'deny'
        : approval
          ? 'approval_required'
          : 'allow';
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
          sensitive,
          method: call.method ?? null,
          path: call.path ?? null,
          argumentNames: Object.keys(call.arguments ?? {}),
          ...(upstream.recordContent ? { arguments: scanned.redacted } : {}),
          verdict,
          jti: claims.jti,
          task: claims.task ?? null,
          traceparent: span.traceparent,
          findings: findingRows.length,
        },
      },
    });
    try {
      await recorder.write([...findingRows, decisionRow]);
    } catch (error) {
      onError('gateway: the decision record could not be written', error);
      span.end({ status: 503, error: 'audit_unavailable' });
      return {
        outcome: 'refuse',
        code: 'audit_unavailable',
        status: 503,
        message: 'The call cannot be recorded, so it is not forwarded.',
        recordId,
      };
    }
    span.setAttributes({ 'steward.decision': verdict, 'steward.record': recordId });

    if (verdict !== 'allow') {
      const code = verdict === 'deny' ? 'forbidden' : verdict;
      const status = STATUS[code];
      span.end({ status, error: code });
      const message =
        verdict === 'deny'
          ? 'Policy does not permit this call.'
          : verdict === 'no_decision'
            ? 'A policy could not be evaluated for this call; it is refused.'
            : `This call needs approval (${approval?.[1]['approval'] ?? ''}); approvals are not available yet.`;
      return { outcome: 'refuse', code, status, message, recordId };
    }

    // 7. The credential to inject. Failing here is failing closed.
    const inject = {
      headers: {} as Record<string, string>,
      query: {} as Record<string, string>,
      scrub: [] as string[],
    };
    if (upstream.credential !== null) {
      let secret: string;
      try {
        secret = await secrets.reveal(upstream.credential.secret);
      } catch (error) {
        onError('gateway: the upstream credential could not be read', error);
        const latencyMs = clock.now() - startedMs;
        rememberPending(recordId, {
          span,
          identityId: claims.client_id,
          service: claims.service,
          team: upstream.team,
          upstream: upstream.name,
          recordContent: false,
          requestId: call.requestId,
          startedMs,
        });
        await complete({
          recordId,
          status: 502,
          bytes: 0,
          latencyMs,
          error: 'credential_unavailable',
        });
        return {
          outcome: 'refuse',
          code: 'upstream_unavailable',
          status: 502,
          message: "The upstream's credential is not available.",
          recordId,
        };
      }
      const value = upstream.credential.format.split('{secret}').join(secret);
      if (upstream.credential.in === 'query') inject.query[upstream.credential.name] = value;
      else if (upstream.credential.in === 'bearer')
        inject.headers['authorization'] = value.startsWith('Bearer ') ? value : `Bearer ${value}`;
      else inject.headers[upstream.credential.name.toLowerCase()] = value;
      inject.scrub.push(secret, ...Object.values(inject.headers), ...Object.values(inject.query));
    }
    rememberPending(recordId, {
      span,
      identityId: claims.client_id,
      service: claims.service,
      team: upstream.team,
      upstream: upstream.name,
      recordContent: upstream.recordContent,
      requestId: call.requestId,
      startedMs,
      ...(upstream.credential !== null && inject.scrub[0] !== undefined
        ? { secret: { name: upstream.credential.secret, value: inject.scrub[0] } }
        : {}),
    });
    return {
      outcome: 'allow',
      upstream,
      claims,
      recordId,
      policies: decided.policies,
      inject,
      traceparent: span.traceparent,
    };
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
        findingRows = await handleFindings(
          scanned.matches,
          'result',
          {
            upstream: entry?.upstream ?? '',
            requestId: entry?.requestId ?? '',
            recordId: outcome.recordId,
          },
          undefined,
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
  ): Promise<GatewayVerdict> {
    const span = spanFor(call);
    let claims: AccessTokenClaims | undefined;
    if (call.token !== undefined && call.token !== '') {
      try {
        claims = verifier.verify(call.token, upstreamAudiences(issuer, call.upstream)).claims;
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
      }
    }
    return refuse(call, span, code, message, claims ? { claims } : {});
  }

  return { check, visible, complete, reject, drain: () => recorder.drain() };
}
