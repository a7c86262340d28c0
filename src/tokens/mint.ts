import type { Insertable, Kysely, Transaction } from 'kysely';
import type { ChangeContext } from '../actors/index.js';
import { appendAuditRows, auditRow } from '../audit/index.js';
import {
  loadWorkloads,
  recordWorkloadUse,
  whyMayNotAct,
  type Workload,
} from '../registry/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import { base64urlJson, signInput, type Keyring } from '../signing/index.js';
import { createGroupCommit, type Database } from '../store/index.js';
import type { AuditEventTable, TokenTable } from '../store/schema.js';
import type { AccessTokenClaims, ActorClaim } from './claims.js';
import { OAuthError } from './errors.js';

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
  /** When the token's session ends (its `sid`'s maximum lifetime), in ms since the epoch. */
  readonly sessionExpiresMs: number;
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
      sessionExpiresMs,
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
      return minted(signed);
    },
  };
}

/** What a caller is given of a signed token: never its records. */
function minted(signed: SignedToken): MintedToken {
  return {
    token: signed.token,
    claims: signed.claims,
    expiresIn: signed.expiresIn,
    sessionExpiresMs: signed.sessionExpiresMs,
  };
}

export interface IssueOptions {
  /**
   * The request's subject came from a cache rather than from the database: the transaction that
   * records the token re-reads the workload first (one query per batch), refuses the token with
   * `invalid_grant` when the workload may no longer act, and signs it again from the fresh
   * workload when what the token says of it has changed. A disabled identity or a withdrawn
   * admission is thus refused by the very transaction that would have issued, on every replica.
   */
  readonly confirmSubject?: boolean;
}

/** A token issued with the subject it was finally signed for (fresher than asked, at times). */
export interface IssuedToken extends MintedToken {
  readonly subject: TokenSubject;
}

/** Issues tokens with group commit: concurrent issuances share one transaction. */
export interface TokenIssuer {
  /** Signs a token and resolves once its records are committed; never returns an unrecorded token. */
  issue(context: ChangeContext, request: MintRequest, options?: IssueOptions): Promise<IssuedToken>;
  drain(): Promise<void>;
}

/** At most this many tokens per transaction: 13 parameters a row stays far below PostgreSQL's 65,535. */
const MAX_BATCH = 256;
/** Signings of one issuance whose workload changed under it each time, before it gives up. */
const MAX_SIGNINGS = 3;

/** What the transaction found of a confirmed subject, when it is not what the token says. */
type Confirmation = { readonly refused: string } | { readonly changed: Workload } | undefined;

/** One token of a batch: signed, and whether its subject is to be confirmed in the batch. */
interface Issuance {
  readonly signed: SignedToken;
  readonly subject: TokenSubject;
  readonly confirm: boolean;
  confirmation?: Confirmation;
}

/** What a token states of its subject: any change means it is signed again. */
const SUBJECT_FIELDS = [
  'id',
  'spiffeId',
  'service',
  'team',
  'environment',
  'agentPath',
  'maxTokenTtlSeconds',
  'maxSessionSeconds',
] as const satisfies readonly (keyof TokenSubject)[];

function confirmation(subject: TokenSubject, workload: Workload | undefined): Confirmation {
  if (!workload) return { refused: 'The identity no longer exists.' };
  const refusal = whyMayNotAct(workload);
  if (refusal) return { refused: refusal.message };
  return SUBJECT_FIELDS.every((field) => subject[field] === workload[field])
    ? undefined
    : { changed: workload };
}

export function createTokenIssuer(deps: { db: Kysely<Database>; minter: Minter }): TokenIssuer {
  const { db, minter } = deps;
  const commits = createGroupCommit<Issuance>({
    maxBatch: MAX_BATCH,
    write: (issuances) =>
      db.transaction().execute(async (trx) => {
        const confirming = issuances.filter((issuance) => issuance.confirm);
        const workloads =
          confirming.length > 0
            ? await loadWorkloads(
                trx,
                confirming.map((issuance) => issuance.subject.id),
              )
            : undefined;
        const accepted: SignedToken[] = [];
        for (const issuance of issuances) {
          if (issuance.confirm) {
            issuance.confirmation = confirmation(
              issuance.subject,
              workloads?.get(issuance.subject.id),
            );
            if (issuance.confirmation !== undefined) continue;
          }
          accepted.push(issuance.signed);
        }
        await minter.record(trx, accepted);
      }),
  });
  return {
    async issue(context, request, options) {
      const confirm = options?.confirmSubject === true;
      let current = request;
      for (let signing = 1; ; signing++) {
        const issuance: Issuance = {
          signed: minter.sign(context, current),
          subject: current.subject,
          confirm,
        };
        await commits.submit(issuance);
        const found = issuance.confirmation;
        if (found === undefined) return { ...minted(issuance.signed), subject: current.subject };
        if ('refused' in found) throw new OAuthError('invalid_grant', found.refused);
        if (signing >= MAX_SIGNINGS) {
          throw new OAuthError(
            'temporarily_unavailable',
            'The identity is changing: try again in a moment.',
          );
        }
        current = { ...current, subject: found.changed };
      }
    },
    drain: () => commits.drain(),
  };
}
