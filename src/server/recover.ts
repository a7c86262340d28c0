import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createApiKeyService, type ApiKey, type RecoveredBy } from '../access/index.js';
import { SYSTEM_ACTOR } from '../actors/index.js';
import { parseMasterKey, type Config } from '../config/index.js';
import { createTeamNames } from '../registry/index.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { checkMasterKey } from '../signing/index.js';
import { openStore, type Store } from '../store/index.js';
import { tightenDataDir } from './data-dir.js';

/** Why a recovery was refused; the CLI maps each to its exit code. */
export type RecoveryRefusal =
  'no_database' | 'no_master_key' | 'wrong_master_key' | 'nothing_sealed';

export class RecoveryRefusedError extends Error {
  constructor(
    readonly reason: RecoveryRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'RecoveryRefusedError';
  }
}

export interface RecoverOptions {
  /** The new key's name (default `recovered`). */
  readonly name?: string;
  readonly recoveredBy: RecoveredBy;
  readonly clock?: Clock;
}

/**
 * `steward admin recover`: a new admin key for whoever holds the database and its master key,
 * when every admin key is lost. It works offline, on the data dir (SQLite, with Steward stopped:
 * the running process holds the database exclusively) or on `DATABASE_URL` (PostgreSQL, replicas
 * may run). Holding the database is not enough: the master key must open a signing key sealed
 * under it, the proof that the caller holds the key that protects everything else. The new key
 * and an `admin.recovered` event naming the operating-system user and host are written together.
 *
 * @throws RecoveryRefusedError without a database, without a master key, or with one that does not
 *   open what the database holds.
 */
export async function recoverAdmin(
  config: Config,
  options: RecoverOptions,
): Promise<ApiKey & { key: string }> {
  const clock = options.clock ?? systemClock;
  let masterKey = config.masterKey;
  let store: Store;
  if (config.databaseUrl === undefined) {
    const file = path.join(config.dataDir, 'steward.db');
    if (!existsSync(file)) {
      throw new RecoveryRefusedError(
        'no_database',
        `There is no Steward database in ${config.dataDir}: recovery works on an existing data dir (set STEWARD_DATA_DIR or --data-dir).`,
      );
    }
    tightenDataDir(config.dataDir);
    const keyFile = path.join(config.dataDir, 'master.key');
    if (masterKey === undefined && existsSync(keyFile)) {
      masterKey = parseMasterKey(readFileSync(keyFile, 'utf8'), keyFile);
    }
    if (masterKey === undefined) {
      throw new RecoveryRefusedError(
        'no_master_key',
        `No master key: set STEWARD_MASTER_KEY (or STEWARD_MASTER_KEY_FILE), or restore ${keyFile}.`,
      );
    }
    store = await openStore({ kind: 'sqlite', file });
  } else {
    // The configuration requires STEWARD_MASTER_KEY with DATABASE_URL; checked again for types.
    if (masterKey === undefined) {
      throw new RecoveryRefusedError('no_master_key', 'No master key: set STEWARD_MASTER_KEY.');
    }
    store = await openStore({ kind: 'postgres', url: config.databaseUrl, poolSize: 2 });
  }
  try {
    await store.migrate();
    await proveMasterKey(store, masterKey);
    return await createApiKeyService({ db: store.db, clock, teams: createTeamNames() }).recover(
      { actor: SYSTEM_ACTOR },
      { name: options.name ?? 'recovered', recoveredBy: options.recoveredBy },
    );
  } finally {
    await store.close();
  }
}

/**
 * Opens one signing key sealed under `masterKey` (AES-256-GCM: a wrong key cannot open it), or
 * refuses. Every Steward that ever started has one; a database without any has nothing to prove
 * possession against, and is refused too rather than trusted.
 */
async function proveMasterKey(store: Store, masterKey: Buffer): Promise<void> {
  const proof = await checkMasterKey(store.db, masterKey);
  if (proof === 'opens') return;
  if (proof === 'nothing_sealed') {
    throw new RecoveryRefusedError(
      'nothing_sealed',
      'The database holds no signing key to check the master key against: start `steward up` on it once first.',
    );
  }
  throw new RecoveryRefusedError(
    'wrong_master_key',
    'The master key does not open what this database holds: it is not the master key of this Steward. Nothing was changed.',
  );
}
