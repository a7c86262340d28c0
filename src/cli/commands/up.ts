import type { Command } from 'commander';
import type { Config } from '../../config/index.js';
import type { RunningSteward } from '../../server/index.js';
import { UsageError } from '../context.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'Run Steward: admin API, token service, gateway and background jobs, in one process',
    )
    .addHelpText(
      'after',
      `
Configuration comes from the environment (see docs/configuration.md):
  STEWARD_HOST (127.0.0.1)  STEWARD_PORT (8080)  STEWARD_DATA_DIR (./.steward)
  DATABASE_URL              unset: embedded SQLite in the data dir; postgres://… for PostgreSQL
  STEWARD_MASTER_KEY        32 bytes, hex or base64; required with DATABASE_URL
  STEWARD_ADMIN_KEY         bootstrap admin key on first start (32+ characters)
  STEWARD_TRUST_DOMAIN (steward.local)  STEWARD_ISSUER  STEWARD_LOG_LEVEL (info)
Secrets may instead be read from a file named by <NAME>_FILE.

Examples:
  steward up
  STEWARD_PORT=9090 STEWARD_DATA_DIR=/var/lib/steward steward up
  DATABASE_URL=postgres://steward@db/steward STEWARD_MASTER_KEY_FILE=/run/secrets/mk steward up`,
    )
    .action(async () => {
      // Loaded here, not at the top: every other command is a small HTTP client, and loading
      // the server (Fastify, both database drivers) would triple its start-up time.
      const [{ loadConfig }, { up }, { DataDirLockedError }] = await Promise.all([
        import('../../config/index.js'),
        import('../../server/index.js'),
        import('../../store/index.js'),
      ]);
      let config: Config;
      try {
        config = loadConfig();
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      let running: RunningSteward;
      try {
        running = await up(config);
      } catch (error) {
        if (error instanceof DataDirLockedError) throw new UsageError(error.message);
        throw error;
      }
      const stop = () => {
        void running.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
