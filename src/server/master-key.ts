import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseMasterKey } from '../config/index.js';

/**
 * The master key that wraps every data key (signing keys, upstream secrets). In embedded mode
 * without `STEWARD_MASTER_KEY`, Steward generates one into the data dir, readable by the owner
 * only, and says so loudly: it is convenient for a laptop and wrong for production, where the
 * key belongs in a secret manager, apart from the database it protects.
 */
export function loadOrCreateMasterKey(dataDir: string): {
  key: Buffer;
  file: string;
  created: boolean;
} {
  const file = path.join(dataDir, 'master.key');
  if (existsSync(file)) {
    return { key: parseMasterKey(readFileSync(file, 'utf8')), file, created: false };
  }
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, file, created: true };
}
