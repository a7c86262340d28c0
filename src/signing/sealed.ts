import type { Kysely, Transaction } from 'kysely';
import { masterKeyId, open, seal } from '../crypto/index.js';
import type { Database } from '../store/index.js';

/**
 * The signing folder's ports on the sealed private keys for the two callers outside it that hold
 * the master key: the master-key re-wrap (in the secrets folder, which re-seals secrets and
 * signing keys in one transaction) and the admin recovery (which proves the operator holds the
 * master key by opening one). Both work on the caller's database or transaction; neither lets a
 * private key leave this folder.
 */

/** What a signing key's private half is sealed to: its key id, so a row cannot be swapped. */
export function signingKeyContext(kid: string): string {
  return `signing-key:${kid}`;
}

/**
 * Re-seals, inside `trx`, every signing key not yet recorded as sealed under `current`: one sealed
 * under `previous` is opened and sealed under `current`; one made before Steward recorded the
 * wrapping key (`wrapped_by` null) that already opens with `current` only has the record fixed.
 * Returns how many keys were re-sealed. Throws when a key is sealed under neither key (nothing is
 * changed then: the caller's transaction rolls back).
 */
export async function rewrapSigningKeys(
  trx: Transaction<Database>,
  keys: { readonly current: Buffer; readonly previous?: Buffer | undefined },
): Promise<number> {
  const { current, previous } = keys;
  const to = masterKeyId(current);
  const from = previous ? masterKeyId(previous) : null;
  let rewrapped = 0;
  const rows = await trx
    .selectFrom('signing_keys')
    .select(['kid', 'private_key', 'wrapped_by'])
    .where((eb) => eb.or([eb('wrapped_by', 'is', null), eb('wrapped_by', '!=', to)]))
    .execute();
  for (const row of rows) {
    const context = signingKeyContext(row.kid);
    if (row.wrapped_by === null && opens(current, row.private_key, context)) {
      // Already under the current key; only the record of which key was missing.
      await trx
        .updateTable('signing_keys')
        .set({ wrapped_by: to })
        .where('kid', '=', row.kid)
        .execute();
      continue;
    }
    if (!previous || (row.wrapped_by !== null && row.wrapped_by !== from)) {
      throw new Error(
        `signing key ${row.kid} is sealed under a master key that is neither STEWARD_MASTER_KEY (${to}) nor STEWARD_MASTER_KEY_PREVIOUS${from === null ? ' (unset)' : ` (${from})`}`,
      );
    }
    const der = open(previous, row.private_key, context);
    try {
      await trx
        .updateTable('signing_keys')
        .set({ private_key: seal(current, der, context), wrapped_by: to })
        .where('kid', '=', row.kid)
        .execute();
    } finally {
      der.fill(0);
    }
    rewrapped += 1;
  }
  return rewrapped;
}

/**
 * Whether `masterKey` opens one of the newest signing keys (AES-256-GCM: a wrong key cannot):
 * `opens`, `wrong_key` when none of them opens, or `nothing_sealed` when the database holds no
 * signing key to check against. Looks at the newest hundred: a rotation may have left older keys
 * under another master key, and the newest are re-sealed first.
 */
export async function checkMasterKey(
  db: Kysely<Database>,
  masterKey: Buffer,
): Promise<'opens' | 'wrong_key' | 'nothing_sealed'> {
  const sealed = await db
    .selectFrom('signing_keys')
    .select(['kid', 'private_key'])
    .orderBy('created_at', 'desc')
    .limit(100)
    .execute();
  if (sealed.length === 0) return 'nothing_sealed';
  return sealed.some((row) => opens(masterKey, row.private_key, signingKeyContext(row.kid)))
    ? 'opens'
    : 'wrong_key';
}

function opens(key: Buffer, sealed: string, context: string): boolean {
  try {
    open(key, sealed, context).fill(0);
    return true;
  } catch {
    return false;
  }
}
