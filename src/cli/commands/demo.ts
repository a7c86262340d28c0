import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StewardAuditEvent } from '@steward/sdk';
import type { Command } from 'commander';
import type { Config } from '../../config/index.js';
import type { RunningSteward } from '../../server/index.js';
import { UsageError } from '../context.js';

/** The parts of `examples/setup.ts` the demo uses; the demo test holds the two to this shape. */
interface ExampleModule {
  runExample(options: {
    steward: string;
    adminKey: string;
    log: (line: string) => void;
  }): Promise<{ mcpUrl: string; apiUrl: string; close(): Promise<void> }>;
}

/** One trail event, as `GET /v1/audit` returns it; only what the demo prints. */
type TrailEvent = Pick<StewardAuditEvent, 'occurredAt' | 'type' | 'after'>;

interface DemoOptions {
  readonly dataDir?: string;
  readonly port?: string;
  readonly keep?: boolean;
}

/** The repository's examples, from src/cli/commands or dist/cli/commands alike. */
const EXAMPLES = new URL('../../../examples/', import.meta.url);

const print = (line = '') => process.stdout.write(`${line}\n`);

const EXISTING_STEWARD =
  'This data directory holds a Steward already, which does not know the demo: set STEWARD_ADMIN_KEY to one of its admin keys.';

/**
 * `steward demo`: the short path of the README. A Steward of its own (throwaway unless
 * `--data-dir`), the example tools and agent of examples/, the refusals and the trail narrated;
 * then everything stopped, or kept running with `--keep`.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'See Steward at work: starts a throwaway Steward, puts two example tools behind its gateway, runs an agent, and shows what the gateway refused and recorded',
    )
    .option('--data-dir <dir>', "Steward's data directory (default: a throwaway one, removed)")
    .option('--port <port>', "Steward's port (default: a free one)")
    .option('--keep', 'keep Steward and the tools running afterwards, and print the admin key')
    .addHelpText(
      'after',
      `
Everything runs in this process, on 127.0.0.1, with embedded SQLite (DATABASE_URL is ignored):
Steward, the example MCP server and HTTP API (examples/), and the example agent, which uses
@steward/sdk. Without --keep it stops everything and removes its data at the end. It runs from a
checkout of Steward (it loads examples/ with tsx, a development dependency).

With --data-dir naming the data of an existing Steward (stopped), set STEWARD_ADMIN_KEY to one of
its admin keys. The example is then added beside what is there, and stays: team "orders", its
service, identity, secrets and upstreams, its policies, and an egress allowance for 127.0.0.1.

Examples:
  npm run demo
  steward demo --keep --port 8080`,
    )
    .action((options: DemoOptions) => runDemo(options));
}

async function runDemo(options: DemoOptions): Promise<void> {
  const started = Date.now();
  const throwaway = options.dataDir === undefined;
  const dataDir = throwaway
    ? mkdtempSync(path.join(tmpdir(), 'steward-demo-'))
    : path.resolve(options.dataDir ?? '');
  const removeData = () => {
    if (throwaway) rmSync(dataDir, { recursive: true, force: true });
  };
  // Said before anything starts; a key that is given but wrong is found once Steward is up.
  if (!throwaway && existsSync(path.join(dataDir, 'steward.db'))) {
    if (!process.env['STEWARD_ADMIN_KEY']) throw new UsageError(EXISTING_STEWARD);
  }
  let example: ExampleModule;
  try {
    example = await loadExample();
  } catch (error) {
    removeData();
    throw error;
  }
  // Loaded here, not at the top, as `up` does: the other commands are small HTTP clients.
  const [{ loadConfig }, { up, createLogger }, { DataDirLockedError }, { generateSecret }] =
    await Promise.all([
      import('../../config/index.js'),
      import('../../server/index.js'),
      import('../../store/index.js'),
      import('../../shared/key-format.js'),
    ]);

  // A fresh Steward takes this key as its first admin key; one that exists keeps its own.
  const bootstrapKey = generateSecret('key');
  let config: Config;
  try {
    config = loadConfig({
      STEWARD_HOST: '127.0.0.1',
      STEWARD_PORT: options.port ?? '0',
      STEWARD_DATA_DIR: dataDir,
      STEWARD_ADMIN_KEY: bootstrapKey,
      STEWARD_LOG_LEVEL: process.env['STEWARD_LOG_LEVEL'] ?? 'error',
      // The master key of an existing data dir, when it was not generated into the dir.
      STEWARD_MASTER_KEY: process.env['STEWARD_MASTER_KEY'],
      STEWARD_MASTER_KEY_FILE: process.env['STEWARD_MASTER_KEY_FILE'],
    });
  } catch (error) {
    removeData();
    throw new UsageError((error as Error).message.replace(/^STEWARD_PORT/, '--port'));
  }

  print('Steward demo: an agent, two tools, and Steward deciding every call between them.');
  print();
  let steward: RunningSteward;
  try {
    steward = await up(config, {
      logger: createLogger(config.logLevel),
      announce: () => undefined,
    });
  } catch (error) {
    removeData();
    if (error instanceof DataDirLockedError) throw new UsageError(error.message);
    throw error;
  }
  let tools: { mcpUrl: string; apiUrl: string; close(): Promise<void> } | undefined;
  const stop = async () => {
    await tools?.close();
    await steward.close();
    removeData();
  };
  try {
    print(
      `Steward is up at ${steward.url}, data in ${dataDir} (SQLite${throwaway ? ', thrown away at the end' : ''}).`,
    );
    print();
    const adminKey = await usableAdminKey(steward.url, [
      bootstrapKey,
      process.env['STEWARD_ADMIN_KEY'],
    ]);
    const since = new Date(started).toISOString();
    tools = await example.runExample({ steward: steward.url, adminKey, log: print });

    print();
    print(
      'The trail recorded every call, each decision before anything was forwarded (steward audit list --service orders-agent):',
    );
    for (const event of await callsSince(steward.url, adminKey, since)) print(`  ${event}`);
    print();

    if (options.keep === true) {
      print(
        'Steward and the tools keep running; Ctrl-C stops them. To explore, in another terminal:',
      );
      print(`  export STEWARD_URL=${steward.url}`);
      print(`  export STEWARD_ADMIN_KEY=${adminKey}`);
      print('  npm run --silent steward -- audit list --service orders-agent');
      print(`  (the tools: orders-mcp at ${tools.mcpUrl}, orders-api at ${tools.apiUrl})`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await stop();
      print('Stopped.');
      return;
    }
    await stop();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    print(
      `Done in ${seconds} s: Steward and the tools are stopped${throwaway ? ' and the throwaway data is removed' : ''}.`,
    );
    print('Next: `npm run demo -- --keep` to explore, or the walk through in README.md.');
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Loads examples/setup.ts through tsx, which compiles it on the way (no build step). */
async function loadExample(): Promise<ExampleModule> {
  const setup = new URL('setup.ts', EXAMPLES);
  if (!existsSync(fileURLToPath(setup))) {
    throw new UsageError(
      `steward demo runs from a checkout of Steward, and ${fileURLToPath(setup)} is not there.`,
    );
  }
  let tsImport: (specifier: string, options: { parentURL: string; tsconfig: string }) => unknown;
  try {
    ({ tsImport } = await import('tsx/esm/api'));
  } catch {
    throw new UsageError(
      'steward demo needs tsx, a development dependency of Steward: run `npm ci` in the checkout.',
    );
  }
  const loaded = (await tsImport(setup.href, {
    parentURL: import.meta.url,
    // The examples' own settings: `@steward/sdk` is the workspace's source, built or not.
    tsconfig: fileURLToPath(new URL('tsconfig.json', EXAMPLES)),
  })) as Partial<ExampleModule>;
  if (typeof loaded.runExample !== 'function') {
    throw new Error('examples/setup.ts does not export runExample');
  }
  return loaded as ExampleModule;
}

/**
 * The first of `candidates` this Steward accepts as an admin key. A fresh data dir took the
 * demo's own; an existing one needs the operator's, from STEWARD_ADMIN_KEY.
 */
async function usableAdminKey(url: string, candidates: (string | undefined)[]): Promise<string> {
  for (const key of candidates) {
    if (key === undefined || key === '') continue;
    const response = await fetch(`${url}/v1/whoami`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const body = (await response.json()) as { role?: string };
    if (response.ok && body.role === 'admin') return key;
  }
  throw new UsageError(EXISTING_STEWARD);
}

/** The gateway's records since `since`, oldest first, one line each. */
async function callsSince(url: string, key: string, since: string): Promise<string[]> {
  const query = new URLSearchParams({ service: 'orders-agent', since, order: 'asc', limit: '500' });
  const response = await fetch(`${url}/v1/audit?${query.toString()}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  if (!response.ok) throw new Error(`GET /v1/audit answered ${response.status}`);
  const { items } = (await response.json()) as { items: TrailEvent[] };
  return items.flatMap((event) => {
    const line = describeCall(event);
    return line === undefined
      ? []
      : [`${event.occurredAt.slice(11, 23)}  ${event.type.padEnd(15)}  ${line}`];
  });
}

/** What one gateway record says, or undefined for events that are not about a call. */
function describeCall(event: TrailEvent): string | undefined {
  const after = (event.after ?? {}) as Readonly<Record<string, unknown>>;
  const id = (value: unknown) => {
    const text = (value as { id?: unknown } | undefined)?.id;
    return typeof text === 'string' ? text : '?';
  };
  if (event.type.startsWith('decision.')) {
    const gateway = (after['gateway'] ?? {}) as {
      method?: string | null;
      path?: string | null;
      verdict?: string;
    };
    const policies = (after['policies'] ?? []) as string[];
    const why =
      gateway.verdict === 'no_decision'
        ? 'no decision could be made'
        : after['decision'] === 'allow'
          ? `permitted by ${policies.join(', ')}`
          : policies.length > 0
            ? `forbidden by ${policies.join(', ')}`
            : 'no policy permits it';
    const request = gateway.method ? `${gateway.method} ${gateway.path ?? ''}: ` : '';
    return `${id(after['action']).padEnd(13)} ${id(after['resource']).padEnd(24)} ${request}${why}`;
  }
  if (event.type === 'gateway.outcome') {
    return `${'forwarded'.padEnd(13)} ${String(after['upstream']).padEnd(24)} answered ${String(after['status'])}`;
  }
  if (event.type === 'gateway.refused') {
    return `${'refused'.padEnd(13)} ${String(after['upstream']).padEnd(24)} ${String(after['status'])} ${String(after['code'])}`;
  }
  return undefined;
}
