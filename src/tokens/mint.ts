import type { Transaction } from 'kysely';
import type { ChangeContext } from '../access/index.js';
import { recordChange } from '../audit/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import { base64urlJson, signInput, type Keyring } from '../signing/index.js';
import type { Database } from '../store/index.js';
import type { AccessTokenClaims, ActorClaim } from './claims.js';

/** The workload a token is minted for, as loaded by the exchange. */
export interface TokenSubject {
  readonly id: string;
  readonly spiffeId: string;
  readonly service: string;
  readonly team: string;
  readonly environment: string;
  readonly agentPath: string;
  readonly maxTokenTtlSeconds: number;
  readonly maxSessionSeconds: number;
}

export interface MintRequest {
  readonly subject: TokenSubject;
  readonly audience: string;
  /** How the workload proved itself: `join_token`, `federation:<trust>`, `renewal`. */
  readonly attestation: string;
  readonly ttlSeconds: number;
  readonly task?: { readonly id: string; readonly deadlineMs: number } | undefined;
  /** The token this one renews, when it does: same session, same delegation chain. */
  readonly parent?:
    { readonly jti: string; readonly sid: string; readonly sessionExpiresMs: number } | undefined;
  readonly act?: ActorClaim | undefined;
  readonly clientAddress?: string | undefined;
}

export interface MintedToken {
  readonly token: string;
  readonly claims: AccessTokenClaims;
  readonly expiresIn: number;
}

/**
 * Signs an access token and records it: the inventory row (metadata only, never the token) and
 * its audit event go in the caller's transaction, so an issued token is always on record.
 */
export function createMinter(deps: { keyring: Keyring; clock: Clock; issuer: string }) {
  const { keyring, clock, issuer } = deps;

  return async function mint(
    trx: Transaction<Database>,
    context: ChangeContext,
    request: MintRequest,
  ): Promise<MintedToken> {
    const nowMs = clock.now();
    const now = Math.floor(nowMs / 1000);
    const jti = newId(nowMs);
    const sid = request.parent?.sid ?? jti;
    const sessionExpiresMs =
      request.parent?.sessionExpiresMs ?? nowMs + request.subject.maxSessionSeconds * 1000;
    // A token never outlives its identity's limit, its session or its task.
    let exp = now + Math.min(request.ttlSeconds, request.subject.maxTokenTtlSeconds);
    exp = Math.min(exp, Math.floor(sessionExpiresMs / 1000));
    if (request.task) exp = Math.min(exp, Math.floor(request.task.deadlineMs / 1000));
    const claims: AccessTokenClaims = {
      iss: issuer,
      sub: request.subject.spiffeId,
      aud: request.audience,
      exp,
      iat: now,
      nbf: now,
      jti,
      client_id: request.subject.id,
      sid,
      environment: request.subject.environment,
      service: request.subject.service,
      agent_path: request.subject.agentPath,
      ...(request.task ? { task: request.task.id } : {}),
      ...(request.act ? { act: request.act } : {}),
    };
    const key = keyring.current();
    const signingInput = `${key.encodedHeader}.${base64urlJson(claims)}`;
    const token = `${signingInput}.${signInput(key.alg, key.privateKey, signingInput)}`;

    await trx
      .insertInto('tokens')
      .values({
        jti,
        identity_id: request.subject.id,
        audience: request.audience,
        task_id: request.task?.id ?? null,
        attestation: request.attestation,
        parent_jti: request.parent?.jti ?? null,
        session_id: sid,
        kid: key.kid,
        issued_at: isoTime(now * 1000),
        expires_at: isoTime(exp * 1000),
        session_expires_at: isoTime(sessionExpiresMs),
        client_address: request.clientAddress ?? null,
        actor: request.act ? JSON.stringify(request.act) : null,
      })
      .execute();
    await trx
      .updateTable('identities')
      .set({ last_used_at: isoTime(nowMs) })
      .where('id', '=', request.subject.id)
      .execute();
    await recordChange(trx, clock, context, {
      type: 'token.issued',
      targetKind: 'token',
      targetId: jti,
      team: request.subject.team,
      service: request.subject.service,
      identityId: request.subject.id,
      after: {
        jti,
        sub: claims.sub,
        aud: claims.aud,
        attestation: request.attestation,
        task: request.task?.id ?? null,
        parent: request.parent?.jti ?? null,
        session: sid,
        act: request.act ?? null,
        expiresAt: isoTime(exp * 1000),
        clientAddress: request.clientAddress ?? null,
      },
    });
    return { token, claims, expiresIn: exp - now };
  };
}

export type Minter = ReturnType<typeof createMinter>;
