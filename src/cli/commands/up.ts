import type { Command } from 'commander';
import type { Config } from '../../config/index.js';
import type { RunningSteward } from '../../server/index.js';
import { UsageError } from '../context.js';

/**
 * Flags of `steward up` and the variables they stand for. A flag wins over its variable. Secrets
 * (DATABASE_URL, STEWARD_MASTER_KEY, STEWARD_ADMIN_KEY) have no flag on purpose: a flag ends up
 * in shell history and in every process listing.
 */
const FLAGS = [
  {
    flag: '--host <address>',
    option: 'host',
    variable: 'STEWARD_HOST',
    help: 'address to listen on (127.0.0.1)',
  },
  {
    flag: '--port <port>',
    option: 'port',
    variable: 'STEWARD_PORT',
    help: 'port to listen on (8080; 0 picks a free one)',
  },
  {
    flag: '--data-dir <dir>',
    option: 'dataDir',
    variable: 'STEWARD_DATA_DIR',
    help: 'embedded-mode data directory (./.steward)',
  },
  {
    flag: '--trust-domain <name>',
    option: 'trustDomain',
    variable: 'STEWARD_TRUST_DOMAIN',
    help: 'SPIFFE trust domain (steward.local)',
  },
  {
    flag: '--issuer <url>',
    option: 'issuer',
    variable: 'STEWARD_ISSUER',
    help: "public base URL, the tokens' iss (http://<host>:<port>)",
  },
  {
    flag: '--rate-per-identity <rate/burst>',
    option: 'ratePerIdentity',
    variable: 'STEWARD_RATE_PER_IDENTITY',
    help: "gateway limit on one identity's calls, per second/burst (100/200)",
  },
  {
    flag: '--rate-per-identity-upstream <rate/burst>',
    option: 'ratePerIdentityUpstream',
    variable: 'STEWARD_RATE_PER_IDENTITY_UPSTREAM',
    help: "gateway limit on one identity's calls to one upstream, unless the upstream sets its own (50/100)",
  },
  {
    flag: '--rate-per-upstream <rate/burst>',
    option: 'ratePerUpstream',
    variable: 'STEWARD_RATE_PER_UPSTREAM',
    help: 'gateway limit on all calls to one upstream (1000/2000)',
  },
  {
    flag: '--rate-unauthenticated <rate/burst>',
    option: 'rateUnauthenticated',
    variable: 'STEWARD_RATE_UNAUTHENTICATED',
    help: 'gateway limit on requests without a valid access token, per client address (20/100)',
  },
  {
    flag: '--gateway-store-timeout <ms>',
    option: 'gatewayStoreTimeout',
    variable: 'STEWARD_GATEWAY_STORE_TIMEOUT_MS',
    help: 'how long a gateway call may wait on the database before it is refused with 503 (3000)',
  },
  {
    flag: '--log-level <level>',
    option: 'logLevel',
    variable: 'STEWARD_LOG_LEVEL',
    help: 'fatal|error|warn|info|debug|trace|silent (info)',
  },
] as const;

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
  STEWARD_SIGNING_ALGORITHM (EdDSA)  STEWARD_KEY_ROTATION_SECONDS  STEWARD_KEY_LEAD_SECONDS
Secrets have no flags (shell history, process lists): set them, or <NAME>_FILE naming a file.

On the first start a generated bootstrap admin key is printed once when standard output is a
terminal; otherwise it is written to <data dir>/bootstrap-admin.key (mode 0600) and only that
path is printed. The data dir is set to mode 0700 and its files to 0600 on every start.

Examples:
  steward up
  steward up --port 9090 --data-dir /var/lib/steward
  DATABASE_URL=postgres://steward@db/steward STEWARD_MASTER_KEY_FILE=/run/secrets/mk steward up`,
    )
    .action(async (options: Partial<Record<(typeof FLAGS)[number]['option'], string>>) => {
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
