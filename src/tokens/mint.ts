import type { Insertable, Kysely, Transaction } from 'kysely';
import type { ChangeContext } from '../actors/index.js';
import { appendAuditRows, auditRow } from '../audit/index.js';
import { recordWorkloadUse } from '../registry/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import { base64urlJson, signInput, type Keyring } from '../signing/index.js';
import { createGroupCommit, type Database } from '../store/index.js';
import type { AuditEventTable, TokenTable } from '../store/schema.js';
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

/** A signed token and the rows that put it on record, before they are written. */
export interface SignedToken extends MintedToken {
  readonly row: Insertable<TokenTable>;
  readonly audit: Insertable<AuditEventTable>;
  readonly identityId: string;
  readonly issuedAtMs: number;
}

/** Plain functions (no `this`), so callers may take them apart: `const { mint } = minter`. */
export interface Minter {
  /** Signs a token and prepares its records; writes nothing. */
  readonly sign: (context: ChangeContext, request: MintRequest) => SignedToken;
  /** Writes the records of `tokens` (inventory rows, audit events, last use) in `trx`. */
  readonly record: (trx: Transaction<Database>, tokens: readonly SignedToken[]) => Promise<void>;
  /** Signs and records one token in the caller's transaction. */
  readonly mint: (
    trx: Transaction<Database>,
    context: ChangeContext,
    request: MintRequest,
  ) => Promise<MintedToken>;
}

/**
 * Signs access tokens and puts them on record: the inventory row (metadata only, never the
 * token) and its audit event, so that an issued token is always accounted for.
 */
export function createMinter(deps: { keyring: Keyring; clock: Clock; issuer: string }): Minter {
  const { keyring, clock, issuer } = deps;

  function sign(context: ChangeContext, request: MintRequest): SignedToken {
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
    return {
      token,
      claims,
      expiresIn: exp - now,
      identityId: request.subject.id,
      issuedAtMs: nowMs,
      row: {
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
      },
      audit: auditRow(clock, context, {
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
      }),
    };
  }

  async function record(trx: Transaction<Database>, tokens: readonly SignedToken[]): Promise<void> {
    if (tokens.length === 0) return;
    await trx
      .insertInto('tokens')
      .values(tokens.map((t) => t.row))
      .execute();
    await appendAuditRows(
      trx,
      tokens.map((t) => t.audit),
    );
    // One update per identity per batch, not per token: the identity row is the hot spot.
    const lastUse = new Map<string, number>();
    for (const t of tokens)
      lastUse.set(t.identityId, Math.max(t.issuedAtMs, lastUse.get(t.identityId) ?? 0));
    await recordWorkloadUse(trx, lastUse);
  }

  return {
    sign,
    record,
    async mint(trx, context, request) {
      const signed = sign(context, request);
      await record(trx, [signed]);
      return { token: signed.token, claims: signed.claims, expiresIn: signed.expiresIn };
    },
  };
}

/** Issues tokens with group commit: concurrent issuances share one transaction. */
export interface TokenIssuer {
  /** Signs a token and resolves once its records are committed; never returns an unrecorded token. */
  issue(context: ChangeContext, request: MintRequest): Promise<MintedToken>;
  drain(): Promise<void>;
}

/** At most this many tokens per transaction: 13 parameters a row stays far below PostgreSQL's 65,535. */
const MAX_BATCH = 256;

export function createTokenIssuer(deps: { db: Kysely<Database>; minter: Minter }): TokenIssuer {
  const { db, minter } = deps;
  const commits = createGroupCommit<SignedToken>({
    maxBatch: MAX_BATCH,
    write: (tokens) => db.transaction().execute((trx) => minter.record(trx, tokens)),
  });
  return {
    async issue(context, request) {
      const signed = minter.sign(context, request);
      await commits.submit(signed);
      return { token: signed.token, claims: signed.claims, expiresIn: signed.expiresIn };
    },
    drain: () => commits.drain(),
  };
}
