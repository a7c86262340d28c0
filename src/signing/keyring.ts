import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { notFound } from '../errors/index.js';
import { masterKeyId, open, seal } from '../crypto/index.js';
import { isoTime, type Clock } from '../shared/clock.js';
import type { ReplicatedCache, Store } from '../store/index.js';
import type { SigningKeyTable } from '../store/schema.js';
import { base64urlJson, thumbprint, type SigningAlgorithm } from './jws.js';
import { signingKeyContext } from './sealed.js';

/**
 * The signing keys and their schedule. A key's state is derived from its times, so every replica
 * that reads the same rows agrees without coordination:
 * - published in the JWKS from creation, which is `leadTime` before it signs, so verifiers that
 *   cache the JWKS already hold it when the first token signed with it arrives;
 * - signing from `activates_at` until a newer key activates;
 * - published after that for as long as a token it signed can live, then dropped.
 */
export interface KeySchedule {
  readonly algorithm: SigningAlgorithm;
  /** How long a key signs before the next one takes over. */
  readonly rotationMs: number;
  /** How long a new key is published before it signs. */
  readonly leadTimeMs: number;
  /** The longest a token can live: a retired key stays published this long (plus leeway). */
  readonly maxTokenLifetimeMs: number;
}

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: KeyObject;
  /** `base64url(header)` for tokens signed with this key, encoded once. */
  readonly encodedHeader: string;
}

export interface PublishedKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly jwk: Readonly<Record<string, unknown>>;
  readonly publicKey: KeyObject;
}

/** A key as listed by the API: metadata and state, never the private half. */
export interface KeyInfo {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly createdAt: string;
  readonly activatesAt: string;
  readonly retiresAt: string | null;
  readonly unpublishesAt: string | null;
  readonly state: 'pending' | 'active' | 'retired' | 'expired' | 'revoked';
}

const LEEWAY_MS = 60_000;
const RELOAD_MS = 5_000;

/** The notification channel on which key changes are announced. */
export const KEYS_CHANNEL = 'steward_keys';

export interface Keyring {
  /** The key that signs now. Throws when there is none (the store has not been initialised). */
  current(): SigningKey;
  /** The verification key for `kid` if it is published now. */
  verificationKey(kid: string): PublishedKey | undefined;
  /** The JWKS document. */
  jwks(): { keys: Record<string, unknown>[] };
  list(): KeyInfo[];
  /**
   * How the keys follow the other replicas: re-read on their notifications and every 5 seconds,
   * so that a withdrawn or rotated key reaches every replica within seconds even if a
   * notification was lost.
   */
  readonly replication: ReplicatedCache;
  /**
   * The scheduled work: makes the first key, pre-publishes the next before the current one is
   * due, drops long-expired ones. Safe to run in every replica at once. Returns true if it
   * changed anything.
   */
  maintain(): Promise<boolean>;
  /** Creates a new key: active now (`immediate`, after a compromise) or after the lead time. */
  rotate(context: ChangeContext, options: { immediate: boolean }): Promise<KeyInfo>;
  /**
   * Withdraws a key after a compromise: it stops signing and verifying at once, here and (by
   * notification) in every replica, so tokens signed with it, genuine or forged, are refused.
   * When it was the key signing now, a new key takes over immediately.
   */
  withdraw(context: ChangeContext, kid: string, reason: string): Promise<KeyInfo>;
}

export function createKeyring(deps: {
  store: Store;
  clock: Clock;
  masterKey: Buffer;
  schedule: KeySchedule;
}): Keyring {
  const { store, clock, masterKey, schedule } = deps;
  const db = store.db;
  const wrappedBy = masterKeyId(masterKey);
  let rows: SigningKeyTable[] = [];
  const privateKeys = new Map<string, SigningKey>();
  const publicKeys = new Map<string, PublishedKey>();

  /** The row that signs at `now`: the newest one whose activation has come. */
  function signerAt(now: number): SigningKeyTable | undefined {
    let best: SigningKeyTable | undefined;
    for (const row of rows) {
      if (row.revoked_at !== null || Date.parse(row.activates_at) > now) continue;
      if (!best || row.activates_at > best.activates_at) best = row;
    }
    return best;
  }

  /** When `row` stopped (or will stop) signing: the activation of the next key after it. */
  function retiredAt(row: SigningKeyTable): number | undefined {
    let next: number | undefined;
    for (const other of rows) {
      if (other.revoked_at !== null || other.activates_at <= row.activates_at) continue;
      const at = Date.parse(other.activates_at);
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  function infoOf(row: SigningKeyTable, now: number): KeyInfo {
    const retires = retiredAt(row);
    const unpublishes =
      retires === undefined ? undefined : retires + schedule.maxTokenLifetimeMs + LEEWAY_MS;
    const state: KeyInfo['state'] =
      row.revoked_at !== null
        ? 'revoked'
        : Date.parse(row.activates_at) > now
          ? 'pending'
          : retires === undefined || retires > now
            ? 'active'
            : unpublishes !== undefined && unpublishes > now
              ? 'retired'
              : 'expired';
    return {
      kid: row.kid,
      alg: row.alg as SigningAlgorithm,
      createdAt: row.created_at,
      activatesAt: row.activates_at,
      retiresAt: retires === undefined ? null : isoTime(retires),
      unpublishesAt: unpublishes === undefined ? null : isoTime(unpublishes),
      state,
    };
  }

  function isPublished(info: KeyInfo): boolean {
    return info.state === 'pending' || info.state === 'active' || info.state === 'retired';
  }

  function generate(now: number, activatesAt: number): SigningKeyTable {
    const pair =
      schedule.algorithm === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    const kid = thumbprint(jwk);
    const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    return {
      kid,
      alg: schedule.algorithm,
      public_jwk: JSON.stringify({ ...jwk, kid, alg: schedule.algorithm, use: 'sig' }),
      private_key: seal(masterKey, der, signingKeyContext(kid)),
      created_at: isoTime(now),
      activates_at: isoTime(activatesAt),
      revoked_at: null,
      wrapped_by: wrappedBy,
    };
  }

  /** Reloads here, and tells the other replicas to reload too. */
  async function changed(): Promise<void> {
    await reload();
    await store.notifications.publish(KEYS_CHANNEL, 'changed');
  }

  async function reload(): Promise<void> {
    const loaded = await db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('activates_at')
      .execute();
    rows = loaded;
    const now = clock.now();
    for (const row of loaded) {
      const info = infoOf(row, now);
      if (!isPublished(info)) {
        privateKeys.delete(row.kid);
        publicKeys.delete(row.kid);
        continue;
      }
      if (!publicKeys.has(row.kid)) {
        const jwk = JSON.parse(row.public_jwk) as Record<string, unknown>;
        publicKeys.set(row.kid, {
          kid: row.kid,
          alg: row.alg as SigningAlgorithm,
          jwk,
          publicKey: createPublicKey({ key: jwk as never, format: 'jwk' }),
        });
      }
      // Only keys that sign now or will sign need their private half in memory.
      if ((info.state === 'active' || info.state === 'pending') && !privateKeys.has(row.kid)) {
        const der = open(masterKey, row.private_key, signingKeyContext(row.kid));
        privateKeys.set(row.kid, {
          kid: row.kid,
          alg: row.alg as SigningAlgorithm,
          privateKey: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }),
          encodedHeader: base64urlJson({ alg: row.alg, kid: row.kid, typ: 'at+jwt' }),
        });
      }
    }
    for (const kid of [...publicKeys.keys()]) {
      if (!loaded.some((row) => row.kid === kid)) publicKeys.delete(kid);
    }
  }

  return {
    current() {
      const row = signerAt(clock.now());
      const key = row && privateKeys.get(row.kid);
      if (!key) throw new Error('no signing key is active: the key schedule has not run');
      return key;
    },

    verificationKey(kid) {
      const key = publicKeys.get(kid);
      if (!key) return undefined;
      const row = rows.find((r) => r.kid === kid);
      return row && isPublished(infoOf(row, clock.now())) ? key : undefined;
    },

    jwks() {
      const now = clock.now();
      return {
        keys: rows
          .filter((row) => isPublished(infoOf(row, now)))
          .map((row) => JSON.parse(row.public_jwk) as Record<string, unknown>),
      };
    },

    list() {
      const now = clock.now();
      return rows.map((row) => infoOf(row, now));
    },

    replication: { name: 'keys', channel: KEYS_CHANNEL, refresh: reload, pollMs: RELOAD_MS },

    async maintain() {
      const didChange = await store.exclusive('signing_keys', async (trx) => {
        const now = clock.now();
        const current = await trx
          .selectFrom('signing_keys')
          .selectAll()
          .where('revoked_at', 'is', null)
          .execute();
        const active = current
          .filter((row) => Date.parse(row.activates_at) <= now)
          .sort((a, b) => (a.activates_at < b.activates_at ? 1 : -1))[0];
        const pending = current.filter((row) => Date.parse(row.activates_at) > now);
        if (!active && pending.length === 0) {
          await trx.insertInto('signing_keys').values(generate(now, now)).execute();
          return true;
        }
        if (
          active &&
          pending.length === 0 &&
          Date.parse(active.activates_at) + schedule.rotationMs - schedule.leadTimeMs <= now
        ) {
          const activates = Math.max(
            now + schedule.leadTimeMs,
            Date.parse(active.activates_at) + schedule.rotationMs,
          );
          await trx.insertInto('signing_keys').values(generate(now, activates)).execute();
          return true;
        }
        // Rows of keys unpublished for a day are no longer useful to anyone.
        rows = current;
        const stale = current.filter((row) => {
          const info = infoOf(row, now);
          return (
            info.state === 'expired' &&
            info.unpublishesAt !== null &&
            Date.parse(info.unpublishesAt) + 86_400_000 < now
          );
        });
        if (stale.length > 0) {
          await trx
            .deleteFrom('signing_keys')
            .where(
              'kid',
              'in',
              stale.map((row) => row.kid),
            )
            .execute();
          return true;
        }
        return false;
      });
      if (didChange) await changed();
      else await reload();
      return didChange;
    },

    async rotate(context, { immediate }) {
      const info = await store.exclusive('signing_keys', async (trx) => {
        const now = clock.now();
        const row = generate(now, immediate ? now : now + schedule.leadTimeMs);
        await trx.insertInto('signing_keys').values(row).execute();
        rows = [...rows, row];
        const created = infoOf(row, now);
        await recordChange(trx, clock, context, {
          type: 'signing_key.rotated',
          targetKind: 'signing_key',
          targetId: row.kid,
          after: { ...created, immediate },
        });
        return created;
      });
      await changed();
      return info;
    },

    async withdraw(context, kid, reason) {
      const info = await store.exclusive('signing_keys', async (trx) => {
        const now = clock.now();
        const row = await trx
          .selectFrom('signing_keys')
          .selectAll()
          .where('kid', '=', kid)
          .executeTakeFirst();
        if (!row) throw notFound('signing key', kid);
        if (row.revoked_at !== null) return infoOf(row, now);
        const before = infoOf(row, now);
        await trx
          .updateTable('signing_keys')
          .set({ revoked_at: isoTime(now) })
          .where('kid', '=', kid)
          .execute();
        const remaining = await trx
          .selectFrom('signing_keys')
          .selectAll()
          .where('revoked_at', 'is', null)
          .execute();
        rows = [...remaining, { ...row, revoked_at: isoTime(now) }];
        if (signerAt(now) === undefined) {
          // Nothing signs now: a replacement starts at once rather than after the lead time.
          const replacement = generate(now, now);
          await trx.insertInto('signing_keys').values(replacement).execute();
          rows = [...rows, replacement];
        }
        const after = infoOf({ ...row, revoked_at: isoTime(now) }, now);
        await recordChange(trx, clock, context, {
          type: 'signing_key.withdrawn',
          targetKind: 'signing_key',
          targetId: kid,
          before,
          after: { ...after, reason },
        });
        return after;
      });
      await changed();
      return info;
    },
  };
}
