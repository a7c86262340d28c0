/**
 * Turns a scenario's measurements into the printed table and the results file.
 */
import { cpus, freemem, loadavg, platform, arch, release, totalmem } from 'node:os';
import type { Measured } from './measure.js';
import type { ComparisonSpec, Goal, Limit, Metric, Scenario, ScenarioOutcome } from './scenario.js';
import type { Stats } from './stats.js';

export interface Ratios {
  readonly median: number;
  readonly p99: number;
  readonly throughput: number;
}

export interface Comparison {
  readonly subject: string;
  readonly baseline: string;
  /** subject / baseline, for each metric. Latency ratios above 1 and throughput below 1 are slower. */
  readonly ratios: Ratios;
  readonly goal?: Goal & { readonly met: boolean };
}

export interface Results {
  readonly scenario: string;
  readonly summary: string;
  /** The engine measured and its version, or null for a scenario without a database. */
  readonly database: { readonly kind: string; readonly version: string } | null;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly durationSeconds: number;
  readonly details: Readonly<Record<string, string | number>>;
  readonly measurements: readonly {
    readonly label: string;
    readonly warmup: number;
    readonly iterations: number;
    readonly medianUs: number;
    readonly p99Us: number;
    readonly meanUs: number;
    readonly minUs: number;
    readonly maxUs: number;
    readonly opsPerSec: number;
  }[];
  readonly comparisons: readonly Comparison[];
  /** Absolute targets (only for a scenario that sets some), with the measured value. */
  readonly limits?: readonly (Limit & { readonly valueMs: number; readonly met: boolean })[];
}

export interface MachineInfo {
  readonly date: string;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly freeMemoryGb: number;
  /** 1-minute load average when the run started: a busy shared machine shows here. */
  readonly loadAverage: number;
}

export function machineInfo(): MachineInfo {
  const processors = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${platform()} ${release()}`,
    arch: arch(),
    cpus: processors.length,
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    memoryGb: round(totalmem() / 2 ** 30, 1),
    freeMemoryGb: round(freemem() / 2 ** 30, 1),
    loadAverage: round(loadavg()[0] ?? 0, 2),
  };
}

function metricOf(stats: Stats, metric: Metric): number {
  if (metric === 'median') return stats.medianNs;
  if (metric === 'p99') return stats.p99Ns;
  return stats.opsPerSec;
}

export function compare(measurements: readonly Measured[], spec: ComparisonSpec): Comparison {
  const find = (label: string): Stats => {
    const found = measurements.find((m) => m.label === label);
    if (!found) throw new Error(`comparison names an unknown measurement: ${label}`);
    return found.stats;
  };
  const subject = find(spec.subject);
  const baseline = find(spec.baseline);
  const ratio = (metric: Metric) => metricOf(subject, metric) / metricOf(baseline, metric);
  const ratios = { median: ratio('median'), p99: ratio('p99'), throughput: ratio('throughput') };
  if (!spec.goal) return { subject: spec.subject, baseline: spec.baseline, ratios };
  const value = ratios[spec.goal.metric];
  const met =
    (spec.goal.atMost === undefined || value <= spec.goal.atMost) &&
    (spec.goal.atLeast === undefined || value >= spec.goal.atLeast);
  return { subject: spec.subject, baseline: spec.baseline, ratios, goal: { ...spec.goal, met } };
}

export function checkLimit(
  measurements: readonly Measured[],
  limit: Limit,
): Limit & { valueMs: number; met: boolean } {
  const found = measurements.find((m) => m.label === limit.measurement);
  if (!found) throw new Error(`limit names an unknown measurement: ${limit.measurement}`);
  const valueMs = metricOf(found.stats, limit.metric) / 1e6;
  return { ...limit, valueMs: round(valueMs, 3), met: valueMs <= limit.atMostMs };
}

export function buildResults(input: {
  scenario: Scenario;
  database: { kind: string; version: string } | null;
  command: string;
  machine: MachineInfo;
  durationSeconds: number;
  outcome: ScenarioOutcome;
}): Results {
  const { scenario, outcome } = input;
  const us = (ns: number) => round(ns / 1000, 2);
  return {
    scenario: scenario.name,
    summary: scenario.summary,
    database: input.database,
    command: input.command,
    machine: input.machine,
    durationSeconds: round(input.durationSeconds, 1),
    details: outcome.details ?? {},
    measurements: outcome.measurements.map(({ label, warmup, stats }) => ({
      label,
      warmup,
      iterations: stats.count,
      medianUs: us(stats.medianNs),
      p99Us: us(stats.p99Ns),
      meanUs: us(stats.meanNs),
      minUs: us(stats.minNs),
      maxUs: us(stats.maxNs),
      opsPerSec: round(stats.opsPerSec, 1),
    })),
    comparisons: outcome.comparisons.map((spec) => {
      const { ratios, ...rest } = compare(outcome.measurements, spec);
      return {
        ...rest,
        ratios: {
          median: round(ratios.median, 3),
          p99: round(ratios.p99, 3),
          throughput: round(ratios.throughput, 3),
        },
      };
    }),
    ...(outcome.limits === undefined || outcome.limits.length === 0
      ? {}
      : { limits: outcome.limits.map((limit) => checkLimit(outcome.measurements, limit)) }),
  };
}

/** The human-readable table: one row per measurement, then one line per comparison. */
export function formatTable(results: Results): string {
  const header = ['case', 'n', 'median', 'p99', 'ops/s'];
  const rows = results.measurements.map((m) => [
    m.label,
    String(m.iterations),
    duration(m.medianUs),
    duration(m.p99Us),
    Math.round(m.opsPerSec).toLocaleString('en-US'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  const title = `${results.scenario}${results.database ? ` (${results.database.version})` : ''}`;
  const out = [title, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const c of results.comparisons) {
    out.push('');
    out.push(`${c.subject} / ${c.baseline}:`);
    out.push(
      `  median x${c.ratios.median.toFixed(2)}   p99 x${c.ratios.p99.toFixed(2)}   throughput x${c.ratios.throughput.toFixed(2)}`,
    );
    if (c.goal) out.push(`  goal: ${c.goal.text}: ${c.goal.met ? 'met' : 'NOT met'}`);
  }
  for (const l of results.limits ?? []) {
    out.push('');
    out.push(`${l.measurement}, ${l.metric} ${duration(l.valueMs * 1000)}:`);
    out.push(`  goal: ${l.text}: ${l.met ? 'met' : 'NOT met'}`);
  }
  return out.join('\n');
}

function duration(us: number): string {
  if (us >= 10_000) return `${(us / 1000).toFixed(1)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${us.toFixed(1)} µs`;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
