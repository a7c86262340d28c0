/**
 * `npm run bench -- peers [authorize|token|gateway|mcp ...] [--db sqlite|postgres] [--seconds N]`
 *
 * Each Steward path against its peer, in one run and one process tree, with the same load
 * generator: `/v1/authorize` vs Cerbos, token renewal vs node-oidc-provider, the HTTP gateway vs
 * the bare proxy and nginx, MCP `tools/call` vs the bare proxy. Prints a table and writes
 * `bench/results/peers.json`. See docs/benchmarks.md, "Peers".
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DatabaseKind } from '../harness/databases.js';
import { startLoadGenerator } from '../harness/load.js';
import { machineInfo } from '../harness/report.js';
import type { PeerCase, PeerRow } from './case.js';
import { authorizeCase } from './cases/authorize.js';
import { gatewayCase, mcpCase } from './cases/gateway.js';
import { tokenCase } from './cases/token.js';
import type { RunFigures, Timing } from './measure.js';

const ROOT = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

export const PEER_CASES: readonly PeerCase[] = [authorizeCase, tokenCase, gatewayCase, mcpCase];

const USAGE = `usage: npm run bench -- peers [${PEER_CASES.map((c) => c.name).join('|')} ...] [--db sqlite|postgres] [--seconds N]
  no case runs them all. Steward runs on SQLite; the token, gateway and mcp cases also on
  PostgreSQL when --db postgres is given or STEWARD_BENCH_DATABASE_URL / STEWARD_TEST_DATABASE_URL
  is set (a fresh database is created on that server); the authorize case runs on --db only.
  --seconds: each closed-loop run's length (default 4; the open loop runs twice as long).`;

function usageError(message: string): never {
  console.error(`bench peers: ${message}\n${USAGE}`);
  process.exit(2);
}

interface Options {
  readonly cases: PeerCase[];
  readonly primary: DatabaseKind;
  readonly databases: DatabaseKind[];
  readonly timing: Timing;
}

function parse(args: readonly string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        db: { type: 'string', default: 'sqlite' },
        seconds: { type: 'string', default: '4' },
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
  if (values.db !== 'sqlite' && values.db !== 'postgres') {
    usageError(`--db must be sqlite or postgres, not ${values.db}`);
  }
  const seconds = Number(values.seconds);
  if (!(seconds >= 1 && seconds <= 60))
    usageError(`--seconds must be 1 to 60, not ${values.seconds}`);
  const unknown = positionals.filter((name) => !PEER_CASES.some((c) => c.name === name));
  if (unknown.length > 0) usageError(`unknown case ${unknown.join(', ')}`);
  const cases =
    positionals.length === 0
      ? [...PEER_CASES]
      : PEER_CASES.filter((c) => positionals.includes(c.name));
  // The test suite's variable names a server too: take it as the bench's when that is not set.
  const testUrl = process.env['STEWARD_TEST_DATABASE_URL'];
  if (process.env['STEWARD_BENCH_DATABASE_URL'] === undefined && testUrl !== undefined) {
    process.env['STEWARD_BENCH_DATABASE_URL'] = testUrl;
  }
  const postgres =
    values.db === 'postgres' || process.env['STEWARD_BENCH_DATABASE_URL'] !== undefined;
  return {
    cases,
    primary: values.db,
    databases: postgres ? ['sqlite', 'postgres'] : ['sqlite'],
    timing: {
      warmupSeconds: Math.max(1, seconds / 2),
      closedSeconds: seconds,
      openSeconds: seconds * 2,
    },
  };
}

function git(args: readonly string[]): string | undefined {
  try {
    return execFileSync('git', [...args], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

const round = (value: number, digits = 3): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};

/** Steward / peer for throughput, and Steward − peer for latency (ms). */
function ratios(row: PeerRow) {
  if (row.peer === undefined) return undefined;
  const s = row.steward.figures;
  const p = row.peer.figures;
  return {
    throughput16: round(s.closed16.rps / p.closed16.rps),
    throughput64: round(s.closed64.rps / p.closed64.rps),
    p50Ratio: round(s.open.p50Ms / p.open.p50Ms),
    p99Ratio: round(s.open.p99Ms / p.open.p99Ms),
    addedP50Ms: round(s.open.p50Ms - p.open.p50Ms),
    addedP99Ms: round(s.open.p99Ms - p.open.p99Ms),
  };
}

const failed = (f: RunFigures): boolean => Object.keys(f.failures).length > 0;

function table(rows: readonly PeerRow[]): string {
  const header = [
    'case',
    'variant',
    'peer',
    'rps@16 S',
    'rps@16 P',
    'x@16',
    'rps@64 S',
    'rps@64 P',
    'x@64',
    'rate/s',
    'p50 S',
    'p50 P',
    '+p50',
    'p99 S',
    'p99 P',
    '+p99',
  ];
  const n = (value: number | undefined, digits: number) =>
    value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
  const body = rows.map((row) => {
    const s = row.steward.figures;
    const p = row.peer?.figures;
    const r = ratios(row);
    const flag = (f: RunFigures | undefined) => (f !== undefined && failed(f) ? '!' : '');
    return [
      row.case,
      row.variant,
      row.peer === undefined ? '(alone)' : row.peer.label.replace(/ @ .*/, ''),
      `${n(s.closed16.rps, 0)}${flag(s.closed16)}`,
      `${n(p?.closed16.rps, 0)}${flag(p?.closed16)}`,
      n(r?.throughput16, 2),
      `${n(s.closed64.rps, 0)}${flag(s.closed64)}`,
      `${n(p?.closed64.rps, 0)}${flag(p?.closed64)}`,
      n(r?.throughput64, 2),
      String(s.open.rate),
      `${n(s.open.p50Ms, 2)}${flag(s.open)}`,
      `${n(p?.open.p50Ms, 2)}${flag(p?.open)}`,
      r === undefined ? '-' : `${r.addedP50Ms >= 0 ? '+' : ''}${r.addedP50Ms.toFixed(2)}`,
      n(s.open.p99Ms, 2),
      n(p?.open.p99Ms, 2),
      r === undefined ? '-' : `${r.addedP99Ms >= 0 ? '+' : ''}${r.addedP99Ms.toFixed(2)}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/**
 * Steward's flatness in the authorize case: its figures at the largest rule count measured
 * against those at the smallest (each measured beside Cerbos, not beside each other).
 */
function flatness(rows: readonly PeerRow[]) {
  const authorize = rows.filter((row) => row.case === 'authorize');
  const first = authorize[0];
  const last = authorize[authorize.length - 1];
  if (first === undefined || last === undefined || first === last) return undefined;
  const a = first.steward.figures;
  const b = last.steward.figures;
  return {
    from: first.variant,
    to: last.variant,
    throughput16: round(b.closed16.rps / a.closed16.rps),
    openP50: round(b.open.p50Ms / a.open.p50Ms),
    openP99: round(b.open.p99Ms / a.open.p99Ms),
  };
}

/**
 * The load generator's CPU time per request beside the server's, per target, at 16 connections:
 * the generator must cost less than what it drives, or the figures measure the generator.
 */
function cpuTable(rows: readonly PeerRow[]): string {
  const seen = new Map<string, RunFigures>();
  for (const row of rows) {
    seen.set(`${row.case}: ${row.steward.label}`, row.steward.figures.closed16);
    if (row.peer !== undefined)
      seen.set(`${row.case}: ${row.peer.label}`, row.peer.figures.closed16);
  }
  const body = [...seen].map(([label, f]) => [
    label,
    f.generatorCpuMsPerRequest.toFixed(3),
    f.serverCpuMsPerRequest.toFixed(3),
    (f.generatorCpuMsPerRequest / f.serverCpuMsPerRequest).toFixed(2),
  ]);
  const header = [
    'target (closed loop, 16 connections)',
    'generator ms',
    'server ms',
    'gen/server',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  return [
    'CPU time per request: the load generator’s process and the server’s (its process tree)',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
  ].join('\n');
}

/** Runs the peers bench with the arguments after `peers`; answers the exit code. */
export async function runPeers(args: readonly string[]): Promise<number> {
  const options = parse(args);
  const started = performance.now();
  const machine = machineInfo();
  const commit = git(['rev-parse', 'HEAD']) ?? 'unknown';
  const dirty = (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  const rows: PeerRow[] = [];
  const skipped: string[] = [];
  const details: Record<string, string | number> = {};
  const log = (message: string) => process.stderr.write(`[peers] ${message}\n`);
  let exitCode = 0;
  const generator = await startLoadGenerator();
  try {
    for (const peerCase of options.cases) {
      log(`${peerCase.name}: ${peerCase.summary}`);
      try {
        await peerCase.run({
          generator,
          timing: options.timing,
          databases: options.databases,
          primary: options.primary,
          log: (message) => log(`${peerCase.name}: ${message}`),
          record: (row) => rows.push(row),
          skip: (line) => {
            skipped.push(line);
            log(line);
          },
          detail: (key, value) => {
            details[`${peerCase.name}.${key}`] = value;
          },
        });
      } catch (error) {
        exitCode = 1;
        console.error(
          `bench peers: ${peerCase.name} failed: ${(error as Error).stack ?? String(error)}`,
        );
      }
    }
  } finally {
    await generator.close();
  }

  const results = {
    scenario: 'peers',
    commit,
    uncommittedChanges: dirty,
    command: ['npm run bench -- peers', ...args].join(' '),
    machine,
    durationSeconds: round((performance.now() - started) / 1000, 1),
    timing: options.timing,
    loadGenerator:
      'bench/harness/load-child.ts: one Node.js child process, undici (HTTP) and the official MCP client; its CPU time per request is kept beside the server’s',
    details,
    skipped,
    cases: options.cases.map((c) => c.name),
    rows: rows.map((row) => ({ ...row, ratios: ratios(row) ?? null })),
    authorizeFlatness: flatness(rows) ?? null,
  };
  console.log(
    `\npeers @ ${commit.slice(0, 12)}${dirty ? ' (with uncommitted changes)' : ''}, ${machine.cpus} cores, ${machine.date}`,
  );
  console.log(
    'S = Steward, P = peer; rps = successful requests/s, closed loop at 16 and 64 connections; x = S/P;',
  );
  console.log(
    'p50/p99 in ms at the fixed open-loop rate (from each request’s scheduled time); +p50/+p99 = S − P; ! = some requests failed (see the results file)\n',
  );
  console.log(table(rows));
  for (const line of skipped) console.log(line);
  const flat = flatness(rows);
  if (flat !== undefined) {
    console.log(
      `authorize flatness, Steward at ${flat.to} / at ${flat.from}: throughput@16 x${flat.throughput16.toFixed(2)}, open-loop p50 x${flat.openP50.toFixed(2)}, p99 x${flat.openP99.toFixed(2)}`,
    );
  }
  console.log(`\n${cpuTable(rows)}`);
  // A subset does not replace the full run's file.
  const file = options.cases.length === PEER_CASES.length ? 'peers.json' : 'peers.subset.json';
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, file), `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote bench/results/${file}`);
  return exitCode;
}
