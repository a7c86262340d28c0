import type { ChangeContext } from '../actors/index.js';
import { recordChange } from '../audit/index.js';
import { masterKeyId, open, seal } from '../crypto/index.js';
import type { Clock } from '../shared/clock.js';
import { rewrapSigningKeys } from '../signing/index.js';
import type { Store } from '../store/index.js';
import { dataKeyContext } from './envelope.js';

/** What a master-key rotation changed. */
export interface RewrapReport {
  readonly from: string | null;
  readonly to: string;
  readonly dataKeys: number;
  readonly signingKeys: number;
}

/**
 * Master-key rotation: re-seals, in one transaction, every secret data key and every signing key
 * still sealed under `previous` so that it is sealed under `current`, and records one audit event.
 * Only the small data keys are re-sealed; the secret values under them do not change. Signing
 * keys made before Steward recorded the wrapping key (`wrapped_by` null) are tried with both keys.
 * The signing keys are the signing folder's: its re-wrap step runs in this same transaction.
 *
 * Throws when a value is sealed under a key that is neither, because starting anyway would only
 * move the failure to the first call that needs it.
 */
export async function rewrapMasterKey(deps: {
  store: Store;
  clock: Clock;
  context: ChangeContext;
  current: Buffer;
  previous?: Buffer | undefined;
}): Promise<RewrapReport> {
  const { store, clock, context, current, previous } = deps;
  const to = masterKeyId(current);
  const from = previous ? masterKeyId(previous) : null;
  const usable = new Set([to, ...(from === null ? [] : [from])]);

  return store.exclusive('master_key', async (trx) => {
    const strangers = await trx
      .selectFrom('secret_versions')
      .select('wrapped_by')
      .where('wrapped_by', 'not in', [...usable])
      .executeTakeFirst();
    if (strangers) {
      throw new Error(
        `secret values are sealed under master key ${strangers.wrapped_by}, which is neither STEWARD_MASTER_KEY (${to}) nor STEWARD_MASTER_KEY_PREVIOUS${from === null ? ' (unset)' : ` (${from})`}`,
      );
    }

    let dataKeys = 0;
    if (previous && from !== null && from !== to) {
      const rows = await trx
        .selectFrom('secret_versions')
        .select(['secret_id', 'version', 'data_key'])
        .where('wrapped_by', '=', from)
        .execute();
      for (const row of rows) {
        const context = dataKeyContext(row.secret_id, row.version);
        const dataKey = open(previous, row.data_key, context);
        try {
          await trx
            .updateTable('secret_versions')
            .set({ data_key: seal(current, dataKey, context), wrapped_by: to })
            .where('secret_id', '=', row.secret_id)
            .where('version', '=', row.version)
            .execute();
        } finally {
          dataKey.fill(0);
        }
        dataKeys += 1;
      }
    }

    const signingKeys = await rewrapSigningKeys(trx, { current, previous });

    const report: RewrapReport = { from, to, dataKeys, signingKeys };
    if (dataKeys + signingKeys > 0) {
      await recordChange(trx, clock, context, {
        type: 'master_key.rewrapped',
        targetKind: 'master_key',
        targetId: to,
        after: report,
      });
    }
    return report;
  });
}
