import type { Kysely } from 'kysely';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { invalidField, notFound, StewardError } from '../errors/index.js';
import { loadWorkload } from '../registry/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation, type Database } from '../store/index.js';
import type { FederationTrustTable } from '../store/schema.js';

/**
 * Federation: a trust rule lets a workload trade a token its platform already gives it (a
 * Kubernetes service-account token, a CI OIDC token) for a Steward token, with no secret to
 * distribute. A rule names the issuer, where its keys are, the audience the token must carry,
 * and claim conditions; a token that satisfies it stands for one identity.
 */
export interface FederationTrust {
  readonly id: string;
  readonly name: string;
  readonly issuer: string;
  readonly jwksUri: string | null;
  readonly jwks: JSONWebKeySet | null;
  readonly audience: string;
  /** Claim path (`/` between levels) → required value; `*` in a value matches any run of characters. */
  readonly conditions: Readonly<Record<string, string>>;
  readonly identity: string;
  readonly createdBy: string;
  readonly createdAt: string;
}

export interface CreateTrustInput {
  readonly name: string;
  readonly issuer: string;
  readonly jwksUri?: string | undefined;
  readonly jwks?: JSONWebKeySet | undefined;
  readonly audience: string;
  readonly conditions: Readonly<Record<string, string>>;
  readonly identity: string;
}

/** Only asymmetric algorithms: a shared-secret (HS*) token could be forged by anyone holding the secret. */
export const FEDERATION_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

export type FederationResult =
  | {
      readonly ok: true;
      readonly identityId: string;
      readonly trust: string;
      readonly subject: string;
    }
  | { readonly ok: false; readonly reason: string };

function toTrust(row: FederationTrustTable): FederationTrust {
  return {
    id: row.id,
    name: row.name,
    issuer: row.issuer,
    jwksUri: row.jwks_uri,
    jwks: row.jwks === null ? null : (JSON.parse(row.jwks) as JSONWebKeySet),
    audience: row.audience,
    conditions: JSON.parse(row.conditions) as Record<string, string>,
    identity: row.identity_id,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

/** Plain HTTP is accepted only for issuers on this machine (tests, local clusters). */
function isAcceptableUrl(text: string): boolean {
  try {
    const url = new URL(text);
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  } catch {
    return false;
  }
}

function claimAt(payload: JWTPayload, path: string): unknown {
  if (path in payload) return payload[path];
  let value: unknown = payload;
  for (const part of path.split('/')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function matches(pattern: string, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (!pattern.includes('*')) return pattern === value;
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
  return regex.test(value);
}

export function createFederationService(deps: {
  db: Kysely<Database>;
  clock: Clock;
  /** Time limit for fetching an issuer's discovery document and keys. */
  fetchTimeoutMs?: number;
}) {
  const { db, clock } = deps;
  const timeoutDuration = deps.fetchTimeoutMs ?? 5_000;
  const keySets = new Map<string, JWTVerifyGetKey>();

  async function keySetFor(trust: FederationTrust): Promise<JWTVerifyGetKey> {
    const cached = keySets.get(trust.id);
    if (cached) return cached;
    let keySet: JWTVerifyGetKey;
    if (trust.jwks !== null) {
      keySet = createLocalJWKSet(trust.jwks);
    } else {
      let jwksUri = trust.jwksUri;
      if (jwksUri === null) {
        // OIDC discovery, as Kubernetes and CI issuers publish it.
        const response = await fetch(
          `${trust.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`,
          {
            signal: AbortSignal.timeout(timeoutDuration),
          },
        );
        if (!response.ok) throw new Error(`discovery answered ${response.status}`);
        const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if (document.issuer !== trust.issuer) throw new Error('discovery names another issuer');
        const discovered = document.jwks_uri;
        if (typeof discovered !== 'string' || !isAcceptableUrl(discovered))
          throw new Error('discovery has no usable jwks_uri');
        jwksUri = discovered;
      }
      // jose caches the key set, refetches on an unknown kid at most every cooldown, and
      // bounds every fetch in time.
      keySet = createRemoteJWKSet(new URL(jwksUri), {
        timeoutDuration,
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
      });
    }
    keySets.set(trust.id, keySet);
    return keySet;
  }

  return {
    async create(context: ChangeContext, input: CreateTrustInput): Promise<FederationTrust> {
      if (!isAcceptableUrl(input.issuer))
        throw invalidField(
          '/body/issuer',
          'The issuer must be an https:// URL (http:// only on localhost).',
        );
      if (input.jwksUri !== undefined && !isAcceptableUrl(input.jwksUri)) {
        throw invalidField(
          '/body/jwksUri',
          'The JWKS URI must be an https:// URL (http:// only on localhost).',
        );
      }
      if (input.jwksUri !== undefined && input.jwks !== undefined)
        throw invalidField('/body/jwks', 'Give jwksUri or jwks, not both.');
      if (input.jwks !== undefined) {
        try {
          createLocalJWKSet(input.jwks);
        } catch {
          throw invalidField('/body/jwks', 'Not a valid JWKS.');
        }
        if (input.jwks.keys.some((key) => key.kty === 'oct')) {
          throw invalidField(
            '/body/jwks',
            'Symmetric keys are not accepted: federation needs an asymmetric signature.',
          );
        }
      }
      if (Object.keys(input.conditions).length === 0) {
        throw invalidField(
          '/body/conditions',
          'At least one claim condition is needed (for example sub): an issuer alone is too broad.',
        );
      }
      try {
        return await db.transaction().execute(async (trx) => {
          const identity = await loadWorkload(trx, input.identity);
          if (!identity) throw notFound('identity', input.identity);
          const row: FederationTrustTable = {
            id: newId(clock.now()),
            name: input.name,
            issuer: input.issuer,
            jwks_uri: input.jwksUri ?? null,
            jwks: input.jwks === undefined ? null : JSON.stringify(input.jwks),
            audience: input.audience,
            conditions: JSON.stringify(input.conditions),
            identity_id: identity.id,
            created_by: context.actor.ref,
            created_at: isoTime(clock.now()),
          };
          await trx.insertInto('federation_trusts').values(row).execute();
          const trust = toTrust(row);
          await recordChange(trx, clock, context, {
            type: 'federation_trust.created',
            targetKind: 'federation_trust',
            targetId: row.id,
            team: identity.team,
            service: identity.service,
            identityId: identity.id,
            after: trust,
          });
          return trust;
        });
      } catch (error) {
        if (isUniqueViolation(error))
          throw new StewardError(
            'conflict',
            `A trust named ${JSON.stringify(input.name)} already exists.`,
          );
        throw error;
      }
    },

    async list(): Promise<FederationTrust[]> {
      const rows = await db.selectFrom('federation_trusts').selectAll().orderBy('name').execute();
      return rows.map(toTrust);
    },

    async get(name: string): Promise<FederationTrust> {
      const row = await db
        .selectFrom('federation_trusts')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      if (!row) throw notFound('federation trust', name);
      return toTrust(row);
    },

    async remove(context: ChangeContext, name: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('federation_trusts')
          .selectAll()
          .where('name', '=', name)
          .executeTakeFirst();
        if (!row) throw notFound('federation trust', name);
        await trx.deleteFrom('federation_trusts').where('id', '=', row.id).execute();
        await recordChange(trx, clock, context, {
          type: 'federation_trust.removed',
          targetKind: 'federation_trust',
          targetId: row.id,
          identityId: row.identity_id,
          before: toTrust(row),
        });
      });
      keySets.clear();
    },

    /**
     * Finds the one identity an external token stands for. The token's issuer picks the
     * candidate rules (read before verification only to choose them); each candidate verifies
     * signature, issuer, audience and time with its own keys, then its claim conditions.
     */
    async authenticate(token: string): Promise<FederationResult> {
      let issuer: unknown;
      try {
        issuer = decodeJwt(token).iss;
      } catch {
        return { ok: false, reason: 'The subject token is not a JWT.' };
      }
      if (typeof issuer !== 'string')
        return { ok: false, reason: 'The subject token has no issuer.' };
      const rows = await db
        .selectFrom('federation_trusts')
        .selectAll()
        .where('issuer', '=', issuer)
        .execute();
      if (rows.length === 0)
        return { ok: false, reason: 'No trust rule accepts tokens from this issuer.' };
      const accepted: { trust: FederationTrust; subject: string }[] = [];
      let lastReason = 'The subject token failed verification.';
      for (const trust of rows.map(toTrust)) {
        try {
          const { payload } = await jwtVerify(token, await keySetFor(trust), {
            issuer: trust.issuer,
            audience: trust.audience,
            algorithms: FEDERATION_ALGORITHMS,
            clockTolerance: 30,
            currentDate: new Date(clock.now()),
            requiredClaims: ['exp'],
          });
          const failed = Object.entries(trust.conditions).find(
            ([path, pattern]) => !matches(pattern, claimAt(payload, path)),
          );
          if (failed) {
            lastReason = `The subject token does not satisfy the condition on ${failed[0]}.`;
            continue;
          }
          accepted.push({ trust, subject: typeof payload.sub === 'string' ? payload.sub : '' });
        } catch (error) {
          const code = (error as { code?: string }).code;
          lastReason =
            code === 'ERR_JWT_EXPIRED'
              ? 'The subject token has expired.'
              : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
                ? 'The subject token has the wrong audience or issuer.'
                : code === 'ERR_JOSE_ALG_NOT_ALLOWED'
                  ? 'The subject token uses an algorithm that is not accepted.'
                  : 'The subject token failed verification.';
        }
      }
      const [only, ...others] = accepted;
      if (!only) return { ok: false, reason: lastReason };
      const identities = new Set(accepted.map((a) => a.trust.identity));
      if (others.length > 0 && identities.size > 1) {
        return {
          ok: false,
          reason: 'The subject token matches trust rules for more than one identity.',
        };
      }
      return {
        ok: true,
        identityId: only.trust.identity,
        trust: only.trust.name,
        subject: only.subject,
      };
    },
  };
}

export type FederationService = ReturnType<typeof createFederationService>;
