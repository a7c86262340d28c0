import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

/** The data dir cannot be made safe; `steward up` explains and exits. */
export class DataDirUnsafeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirUnsafeError';
  }
}

export interface DataDirOwner {
  /** The user the files must belong to; the process's own (undefined where there are no uids). */
  readonly uid: number | undefined;
}

const processOwner: DataDirOwner = { uid: process.getuid?.() };

/**
 * Makes the data dir owner-only, on every start, whatever it was before: the folder 0700, every
 * file in it 0600 (the database and its WAL, the master key, the bootstrap key, anything else).
 * `mkdir` and `open` modes apply only to what they create, so a folder made 0777 beforehand, or
 * files loosened since, would otherwise stay readable by every local user, master key included.
 *
 * Refuses (with {@link DataDirUnsafeError}) what chmod cannot repair: a symbolic link in the
 * folder (a planted link would be followed to another file), a file that belongs to another user
 * (a planted master key would then seal every secret under a key someone else knows), and a
 * folder others may still write to because it belongs to someone else. Returns what it could
 * not tighten but is safe to run with (a folder of another owner that others cannot write), for a
 * warning.
 */
export function tightenDataDir(dir: string, owner: DataDirOwner = processOwner): string[] {
  const warnings: string[] = [];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The folder itself may be a link (to a mounted volume); what is inside it may not.
  if (!statSync(dir).isDirectory()) {
    throw new DataDirUnsafeError(`The data dir ${dir} is not a directory.`);
  }
  try {
    chmodSync(dir, 0o700);
  } catch (error) {
    if ((statSync(dir).mode & 0o022) !== 0) {
      throw new DataDirUnsafeError(
        `The data dir ${dir} is writable by other users and cannot be made private (${(error as Error).message}). ` +
          'Give Steward a directory of its own (STEWARD_DATA_DIR).',
      );
    }
    warnings.push(
      `the data dir ${dir} belongs to another user and stays mode ${modeText(statSync(dir).mode)}; only its files are tightened`,
    );
  }
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const stat = lstatSync(file);
    if (stat.isSymbolicLink()) {
      throw new DataDirUnsafeError(
        `${file} is a symbolic link; Steward does not follow links in its data dir. Remove it.`,
      );
    }
    if (!stat.isFile()) continue;
    if (owner.uid !== undefined && stat.uid !== owner.uid) {
      throw new DataDirUnsafeError(
        `${file} belongs to user ${stat.uid}, not to the user running Steward (${owner.uid}). ` +
          'Remove it if you do not know where it came from, or chown it.',
      );
    }
    if ((stat.mode & 0o777) !== 0o600) chmodSync(file, 0o600);
  }
  return warnings;
}

function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/** Where `steward up` leaves a generated bootstrap key when standard output is not a terminal. */
export const BOOTSTRAP_KEY_FILE = 'bootstrap-admin.key';

/**
 * Writes `content` to `name` in the (tightened) data dir, readable by its owner only from the
 * first byte: an older file of that name is removed first, never reused with its old mode.
 * Returns the file's path.
 */
export function writePrivateFile(dir: string, name: string, content: string): string {
  tightenDataDir(dir);
  const file = path.join(dir, name);
  rmSync(file, { force: true });
  writeFileSync(file, content, { mode: 0o600, flag: 'wx' });
  return file;
}
