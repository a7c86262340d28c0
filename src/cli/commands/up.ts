import type { Command } from 'commander';
import { SERVER_VARIABLES, type Config, type Variable } from '../../config/index.js';
import type { RunningSteward } from '../../server/index.js';
import { UsageError } from '../context.js';

/**
 * Flags of `steward up`: each stands for a variable of the table (src/config), which names the
 * flag and gives the default its help shows; only the value's placeholder and a short help are
 * said here. A flag wins over its variable. Secrets (DATABASE_URL, STEWARD_MASTER_KEY,
 * STEWARD_ADMIN_KEY) have no flag on purpose: a flag ends up in shell history and in every
 * process listing.
 */
const FLAG_HELP = {
  host: { value: '<address>', help: 'address to listen on' },
  port: { value: '<port>', help: 'port to listen on', note: '0 picks a free one' },
  dataDir: { value: '<dir>', help: 'embedded-mode data directory' },
  trustDomain: { value: '<name>', help: 'SPIFFE trust domain' },
  issuer: { value: '<url>', help: "public base URL, the tokens' iss" },
  ratePerIdentity: {
    value: '<rate/burst>',
    help: "gateway limit on one identity's calls, per second/burst",
  },
  ratePerIdentityUpstream: {
    value: '<rate/burst>',
    help: "gateway limit on one identity's calls to one upstream, unless the upstream sets its own",
  },
  ratePerUpstream: { value: '<rate/burst>', help: 'gateway limit on all calls to one upstream' },
  rateUnauthenticated: {
    value: '<rate/burst>',
    help: 'gateway limit on requests without a valid access token, per client address',
  },
  gatewayStoreTimeoutMs: {
    value: '<ms>',
    help: 'how long a gateway call may wait on the database before it is refused with 503',
  },
  // A choice: its help is its choices.
  logLevel: { value: '<level>', help: '' },
} as const satisfies Partial<
  Record<keyof typeof SERVER_VARIABLES, { value: string; help: string; note?: string }>
>;

/** How the help shows a variable's default (and its choices, for a choice). */
function defaultHelp(variable: Variable): string {
  switch (variable.kind) {
    case 'text':
      return (variable.defaultText ?? variable.default ?? 'unset').replaceAll('`', '');
    case 'whole':
      return String(variable.default);
    case 'choice':
      return variable.default;
    case 'rate':
      return `${variable.default.perSecond}/${variable.default.burst}`;
  }
}

/** The flags, in the order the help lists them. */
const FLAGS = (Object.keys(FLAG_HELP) as (keyof typeof FLAG_HELP)[]).map((key) => {
  const variable: Variable = SERVER_VARIABLES[key];
  const { value, help, note } = FLAG_HELP[key] as { value: string; help: string; note?: string };
  if (variable.flag === undefined) throw new Error(`${variable.name} names no flag`);
  const shown = variable.kind === 'choice' ? variable.choices.join('|') : help;
  const defaults = defaultHelp(variable) + (note === undefined ? '' : `; ${note}`);
  return {
    flag: `${variable.flag} ${value}`,
    // commander's name for the option: the flag in camel case.
    option: variable.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
    variable: variable.name,
    help: `${shown} (${defaults})`,
  };
});

export function registerUp(program: Command): void {
  const command = program
    .command('up')
    .description('Run Steward: admin API, token service and background jobs, in one process');
  for (const { flag, help, variable } of FLAGS) command.option(flag, `${help}; or ${variable}`);
  command
    .addHelpText(
      'after',
      `
Configuration comes from these flags and the environment (see docs/configuration.md):
  DATABASE_URL              unset: embedded SQLite in the data dir; postgres://… for PostgreSQL
  STEWARD_MASTER_KEY        32 bytes, hex or base64; required with DATABASE_URL
  STEWARD_ADMIN_KEY         bootstrap admin key on first start (32+ characters)
  STEWARD_SIGNING_ALGORITHM (${SERVER_VARIABLES.signingAlgorithm.default})  STEWARD_KEY_ROTATION_SECONDS  STEWARD_KEY_LEAD_SECONDS
Secrets have no flags (shell history, process lists): set them, or <NAME>_FILE naming a file.

On the first start a generated bootstrap admin key is printed once when standard output is a
terminal; otherwise it is written to <data dir>/bootstrap-admin.key (mode 0600) and only that
path is printed. The data dir is set to mode 0700 and its files to 0600 on every start.

Examples:
  steward up
  steward up --port 9090 --data-dir /var/lib/steward
  DATABASE_URL=postgres://steward@db/steward STEWARD_MASTER_KEY_FILE=/run/secrets/mk steward up`,
    )
    .action(async (options: Partial<Record<string, string>>) => {
      // Loaded here, not at the top: every other command is a small HTTP client, and loading
      // the server (Fastify, both database drivers) would triple its start-up time.
      const [{ loadConfig }, { up, DataDirUnsafeError }, { DataDirLockedError }] =
        await Promise.all([
          import('../../config/index.js'),
          import('../../server/index.js'),
          import('../../store/index.js'),
        ]);
      const env: Record<string, string | undefined> = { ...process.env };
      for (const { option, variable } of FLAGS) {
        const value = options[option];
        if (value !== undefined) env[variable] = value;
      }
      let config: Config;
      try {
        config = loadConfig(env);
      } catch (error) {
        // Name the flag when the bad value came from one.
        const message = (error as Error).message;
        const from = FLAGS.find(
          (f) => options[f.option] !== undefined && message.startsWith(f.variable),
        );
        throw new UsageError(
          from ? `${from.flag.split(' ')[0] ?? from.flag} (${message})` : message,
        );
      }
      let running: RunningSteward;
      try {
        running = await up(config);
      } catch (error) {
        if (error instanceof DataDirLockedError || error instanceof DataDirUnsafeError)
          throw new UsageError(error.message);
        throw error;
      }
      const stop = () => {
        void running.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
