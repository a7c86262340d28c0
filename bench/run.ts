/**
 * `npm run bench [scenario...] [--db sqlite|postgres] [--iterations N]`, `npm run bench -- --list`
 *
 * Runs named scenarios one after another, prints a table per scenario and writes
 * `bench/results/<scenario>.<db>.json` (or `<scenario>.json` for a scenario without a database).
 * Exit codes: 0 done, 1 a scenario failed, 2 bad usage (unknown scenario or option).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DATABASE_KINDS, storeFactory, type DatabaseKind } from './harness/databases.js';
import { buildResults, formatTable, machineInfo } from './harness/report.js';
import type { Scenario } from './harness/scenario.js';
import { scenarios } from './scenarios/index.js';

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

const USAGE = `usage: npm run bench -- [scenario...] [--db sqlite|postgres] [--iterations N] [--list]
       npm run bench -- peers [case...] (see npm run bench -- peers --help)
  no scenario runs them all; --db defaults to sqlite (postgres: STEWARD_BENCH_DATABASE_URL,
  default postgres://postgres@127.0.0.1:5432/postgres, on which a fresh database is created)`;

function usageError(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

function parse(): { names: string[]; database: DatabaseKind; iterations?: number; list: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        db: { type: 'string', default: 'sqlite' },
        iterations: { type: 'string' },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const database = DATABASE_KINDS.find((kind) => kind === values.db);
  if (!database) usageError(`--db must be one of ${DATABASE_KINDS.join(', ')}, not ${values.db}`);
  let iterations: number | undefined;
  if (values.iterations !== undefined) {
    iterations = Number(values.iterations);
    if (!Number.isSafeInteger(iterations) || iterations < 100) {
      usageError(`--iterations must be a whole number of at least 100, not ${values.iterations}`);
    }
  }
  return {
    names: positionals,
    database,
    list: values.list,
    ...(iterations === undefined ? {} : { iterations }),
  };
}

function select(names: readonly string[]): Scenario[] {
  if (names.length === 0) return [...scenarios];
  const unknown = names.filter((name) => !scenarios.some((s) => s.name === name));
  if (unknown.length > 0) {
    usageError(
      `unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`,
    );
  }
  return names.flatMap((name) => scenarios.filter((s) => s.name === name));
}

async function runScenario(
  scenario: Scenario,
  database: DatabaseKind,
  iterations: number | undefined,
): Promise<void> {
  if (scenario.databases !== undefined && !scenario.databases.includes(database)) {
    console.log(
      `\n${scenario.name}: skipped, it needs ${scenario.databases.map(engineName).join(' or ')} (run it with --db ${scenario.databases.join(' or --db ')})`,
    );
    return;
  }
  const stores = storeFactory(database);
  let version: string | undefined;
  const log = (message: string) => process.stderr.write(`[${scenario.name}] ${message}\n`);
  const machine = machineInfo();
  const started = performance.now();
  try {
    const outcome = await scenario.run({
      database,
      async openStore() {
        const store = await stores.open();
        version ??= await stores.version(store);
        return store;
      },
      iterations: (defaultCount) => iterations ?? defaultCount,
      log,
    });
    const results = buildResults({
      scenario,
      database: scenario.usesDatabase ? { kind: database, version: version ?? database } : null,
      command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
      machine,
      durationSeconds: (performance.now() - started) / 1000,
      outcome,
    });
    console.log(`\n${formatTable(results)}\n`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = scenario.usesDatabase
      ? `${scenario.name}.${database}.json`
      : `${scenario.name}.json`;
    writeFileSync(path.join(RESULTS_DIR, file), `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote bench/results/${file}`);
  } finally {
    await stores.disposeAll();
  }
}

function engineName(kind: DatabaseKind): string {
  return kind === 'postgres' ? 'PostgreSQL' : 'SQLite';
}

// `npm run bench -- peers [case...]`: Steward against its peers (bench/peers/run.ts).
if (process.argv[2] === 'peers') {
  const { runPeers } = await import('./peers/run.js');
  process.exit(await runPeers(process.argv.slice(3)));
}

const options = parse();
if (options.list) {
  const width = Math.max(...scenarios.map((s) => s.name.length));
  for (const s of scenarios) console.log(`${s.name.padEnd(width)}  ${s.summary}`);
  process.exit(0);
}
let failed = false;
for (const scenario of select(options.names)) {
  try {
    await runScenario(scenario, options.database, options.iterations);
  } catch (error) {
    failed = true;
    console.error(`bench: ${scenario.name} failed: ${(error as Error).stack ?? String(error)}`);
  }
}
process.exit(failed ? 1 : 0);
