import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Config } from '../../config/index.js';
import { CliRefusal, EXIT, printRecord, UsageError, type OutputOptions } from '../context.js';
import { subcommand } from '../verbs.js';

/** The longest OS user or host name written into the trail. */
const MAX_NAME = 255;

/** `steward admin recover`: the way back in for whoever holds the database and the master key. */
export function registerAdmin(program: Command): void {
  const admin = subcommand(
    program,
    'admin',
    "Operator commands that work on Steward's database directly, not through the API",
    [
      'steward admin recover',
      'DATABASE_URL=postgres://… STEWARD_MASTER_KEY_FILE=/run/secrets/mk steward admin recover',
    ],
  );

  const recover = subcommand(
    admin,
    'recover',
    'Mint a new admin key when every admin key is lost; needs the database and its master key',
    [
      'steward admin recover',
      'steward admin recover --data-dir /var/lib/steward --name "recovered by alice"',
      'DATABASE_URL=postgres://steward@db/steward STEWARD_MASTER_KEY_FILE=/run/secrets/mk steward admin recover --json',
    ],
  )
    .option('--data-dir <dir>', 'embedded-mode data directory; or STEWARD_DATA_DIR (./.steward)')
    .option('--name <text>', 'the new key\u2019s name (recovered)', (value: string) => {
      if (value.length < 1 || value.length > 200)
        throw new UsageError('--name must be 1 to 200 characters');
      return value;
    })
    .addHelpText(
      'after',
      `
Works offline, without the API: on the data dir (SQLite; stop \`steward up\` first, it holds the
database exclusively) or on DATABASE_URL (PostgreSQL; replicas may keep running). The master key
comes from STEWARD_MASTER_KEY or STEWARD_MASTER_KEY_FILE, or in embedded mode from master.key in
the data dir, and must open a signing key sealed in the database: the database alone is not
enough. The key is printed once; the trail records apikey.created and admin.recovered with the
operating-system user and host that ran the command. Exit codes: 0 minted; 2 no database, no
master key, or Steward still running on the data dir; 4 the master key is not this Steward's.`,
    );

  recover.action(async (options: { dataDir?: string; name?: string }) => {
    // Loaded here, as `steward up` does: the other commands are small HTTP clients.
    const [{ loadConfig, ConfigError }, server, { DataDirLockedError }] = await Promise.all([
      import('../../config/index.js'),
      import('../../server/index.js'),
      import('../../store/index.js'),
    ]);
    const env: Record<string, string | undefined> = { ...process.env };
    if (options.dataDir !== undefined) env['STEWARD_DATA_DIR'] = options.dataDir;
    let config: Config;
    try {
      config = loadConfig(env);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    let created;
    try {
      created = await server.recoverAdmin(config, {
        ...(options.name === undefined ? {} : { name: options.name }),
        recoveredBy: operator(),
      });
    } catch (error) {
      if (error instanceof server.RecoveryRefusedError) {
        throw new CliRefusal(
          error.message,
          error.reason === 'wrong_master_key' ? EXIT.auth : EXIT.usage,
        );
      }
      if (
        error instanceof DataDirLockedError ||
        error instanceof server.DataDirUnsafeError ||
        error instanceof ConfigError
      ) {
        throw new UsageError(error.message);
      }
      throw error;
    }
    if (recover.optsWithGlobals<OutputOptions>().json) {
      printRecord(recover, created);
      return;
    }
    process.stdout.write(
      [
        '',
        'Recovered admin key (shown once, never again; store it now):',
        '',
        `  ${created.key}`,
        '',
        `Recorded in the trail as admin.recovered (key ${created.id}). Revoke the keys you no longer`,
        'trust with `steward apikey revoke <id>`.',
        '',
      ].join('\n'),
    );
  });
}

/** The operating-system user and host running the command, as the trail names them. */
function operator(): { osUser: string; host: string } {
  let osUser: string;
  try {
    osUser = userInfo().username;
  } catch {
    // No passwd entry (a container with an arbitrary uid): the uid is all there is.
    osUser = `uid:${process.getuid?.() ?? 'unknown'}`;
  }
  return { osUser: osUser.slice(0, MAX_NAME), host: hostname().slice(0, MAX_NAME) };
}
