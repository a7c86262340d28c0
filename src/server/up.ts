import { createServer } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { buildHttpApp } from '../http/index.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { openStore, type Store } from '../store/index.js';
import { createCore, type Core } from './core.js';
import { BOOTSTRAP_KEY_FILE, tightenDataDir, writePrivateFile } from './data-dir.js';
import { createLogger } from './logger.js';
import { loadOrCreateMasterKey } from './master-key.js';

/** A running Steward: its address, and how to stop it cleanly. */
export interface RunningSteward {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly core: Core;
  readonly masterKey: Buffer;
  close(): Promise<void>;
}

export interface UpOptions {
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Where the one-time bootstrap messages go (the terminal), apart from the JSON log. */
  readonly announce?: (text: string) => void;
  /**
   * Whether standard output is a terminal (default: `process.stdout.isTTY`). On a terminal a
   * generated bootstrap key is printed once. Otherwise standard output is usually a log that a
   * platform ships and keeps, so the key goes to a file readable by its owner only, in the data
   * dir ({@link BOOTSTRAP_KEY_FILE}), and only the file's path is printed.
   */
  readonly interactive?: boolean;
}

/**
 * `steward up`: opens the store, migrates, bootstraps the first admin key, and serves the API.
 * Everything runs in this one process; with `DATABASE_URL` any number of these can share a
 * PostgreSQL database.
 */
export async function up(config: Config, options: UpOptions = {}): Promise<RunningSteward> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const announce = options.announce ?? ((text: string) => process.stdout.write(`${text}\n`));
  const clock = options.clock ?? systemClock;
  // Undefined, not false, when standard output is not a terminal.
  const interactive = options.interactive ?? process.stdout.isTTY;
  const tighten = () => {
    for (const warning of tightenDataDir(config.dataDir)) logger.warn(warning);
  };

  let masterKey = config.masterKey;
  let store: Store;
  if (config.databaseUrl === undefined) {
    // Before anything in it is read: a planted master key or link is refused, not used.
    tighten();
    if (masterKey === undefined) {
      const generated = loadOrCreateMasterKey(config.dataDir);
      masterKey = generated.key;
      logger.warn(
        { file: generated.file },
        'STEWARD_MASTER_KEY is not set: using a master key stored beside the data. Fine for a laptop; in production set STEWARD_MASTER_KEY from a secret manager.',
      );
    }
    store = await openStore({ kind: 'sqlite', file: path.join(config.dataDir, 'steward.db') });
  } else {
    store = await openStore({ kind: 'postgres', url: config.databaseUrl });
  }
  if (masterKey === undefined)
    throw new Error('unreachable: configuration guarantees a master key');

  // Port 0 asks for any free port. The issuer must name the real one, and tokens are issued
  // before the server listens, so the port is chosen first.
  let port = config.port;
  let issuer = config.issuer;
  if (port === 0) {
    port = await freePort(config.host);
    if (config.issuerIsDefault) issuer = issuer.replace(/:0$/, `:${port}`);
  }

  try {
    // Again once the database is open: its WAL and anything made since are owner-only too.
    if (config.databaseUrl === undefined) tighten();
    await store.migrate();
    const core = createCore({
      store,
      clock,
      trustDomain: config.trustDomain,
      issuer,
      masterKey,
      previousMasterKey: config.previousMasterKey,
      signing: config.signing,
      otlpEndpoint: config.otlpEndpoint,
      rateLimits: config.rateLimits,
      gatewayStoreTimeoutMs: config.gatewayStoreTimeoutMs,
      gatewayRefusalWindowMs: config.gatewayRefusalWindowSeconds * 1000,
      apiKeyCacheMs: config.apiKeyCacheSeconds * 1000,
      onGatewayError: (message, error) => logger.error({ err: error }, message),
      onAnnounceError: (channel, error) =>
        logger.warn(
          { err: error, channel },
          'could not announce a change to the other replicas: they see it at their next poll',
        ),
    });
    await core.start({
      onJobError: (job, error) => logger.error({ err: error, job }, 'background job failed'),
      onReplicationError: (failure) => {
        if (failure.kind === 'refresh') {
          logger.error(
            { err: failure.error, cache: failure.cache },
            'replicated cache refresh failed: this replica may act on stale data until one succeeds',
          );
        } else {
          logger.warn(
            { err: failure.error },
            "lost the subscription to other replicas' changes: reconnecting; polls keep caches fresh meanwhile",
          );
        }
      },
      onRewrap: (report) => {
        if (report.dataKeys + report.signingKeys > 0) {
          logger.warn(
            report,
            'master key rotation: re-wrapped data keys and signing keys under STEWARD_MASTER_KEY; remove STEWARD_MASTER_KEY_PREVIOUS once every replica runs with the new key',
          );
        } else if (report.from !== null) {
          logger.info(
            report,
            'STEWARD_MASTER_KEY_PREVIOUS is set but nothing was sealed under it any more; it can be removed',
          );
        }
      },
    });
    const bootstrap = await core.apiKeys.bootstrap(config.adminKey);
    if (bootstrap.generated !== undefined && interactive) {
      announce(
        [
          '',
          'Bootstrap admin key (shown once, never again; store it now):',
          '',
          `  ${bootstrap.generated}`,
          '',
          'Use it as STEWARD_ADMIN_KEY for the CLI, or as "Authorization: Bearer <key>".',
          '',
        ].join('\n'),
      );
    } else if (bootstrap.generated !== undefined) {
      const file = saveBootstrapKey(config.dataDir, bootstrap.generated);
      announce(
        `Bootstrap admin key written to ${file} (readable by this user only, printed nowhere): ` +
          'store it in your secret manager, then delete the file.',
      );
    } else if (bootstrap.created) {
      logger.info('bootstrap admin key taken from STEWARD_ADMIN_KEY');
    }

    const { app } = await buildHttpApp({
      core,
      logger,
      processMetrics: true,
    });
    if ((config.host === '0.0.0.0' || config.host === '::') && !issuer.startsWith('https://')) {
      logger.warn(
        { host: config.host },
        'listening on every interface without TLS: put a TLS-terminating proxy in front and set STEWARD_ISSUER to its https:// URL',
      );
    }
    const address = await app.listen({ host: config.host, port });
    const where =
      config.databaseUrl === undefined
        ? `data in ${config.dataDir} (SQLite)`
        : 'data in PostgreSQL (DATABASE_URL)';
    announce(`Steward is up at ${address}: ${where}.`);

    let closing: Promise<void> | undefined;
    return {
      url: address,
      app,
      core,
      masterKey,
      close() {
        closing ??= (async () => {
          await app.close();
          await core.stop();
          await store.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/**
 * Writes the generated bootstrap key to its file. The key is already committed, so a failure here
 * leaves nobody holding it: say how to get another.
 */
function saveBootstrapKey(dataDir: string, key: string): string {
  try {
    return writePrivateFile(dataDir, BOOTSTRAP_KEY_FILE, `${key}\n`);
  } catch (error) {
    throw new Error(
      `Could not write the bootstrap admin key to ${dataDir}: ${(error as Error).message}. ` +
        'Standard output is not a terminal, so it was not printed either: stop Steward, fix the data dir, and mint another admin key with `steward admin recover`.',
      { cause: error },
    );
  }
}

/** A port the operating system says is free on `host` now. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0 }, () => {
      const address = probe.address();
      const chosen = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(chosen));
    });
  });
}
