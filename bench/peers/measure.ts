/**
 * Measuring a group of targets side by side with the bench's load generator (a child process,
 * `bench/harness/load.ts`): each target is warmed up, then each load is offered to every target
 * in turn, the order rotated from one load to the next, so a burst of load on a shared machine
 * falls on Steward and its peer alike.
 *
 * The loads: a closed loop at 16 and at 64 connections (maximum throughput), and an open loop at
 * a fixed moderate rate (latency from each request's scheduled time: no coordinated omission).
 * For each run the CPU time of the generator and of the server's process tree is kept, so the
 * results say whether the generator was cheaper than what it drove.
 */
import type { LoadGenerator, LoadMode, LoadResult, LoadTarget } from '../harness/load.js';
import { summarize } from '../harness/stats.js';
import { cpuMsOf, type CpuSource } from './processes.js';

export const CLOSED_CONNECTIONS = [16, 64] as const;
/** Outstanding requests the open loop allows; a due request beyond them waits (and counts). */
export const OPEN_MAX_IN_FLIGHT = 128;

export interface Timing {
  readonly warmupSeconds: number;
  readonly closedSeconds: number;
  readonly openSeconds: number;
}

export interface PeerTarget {
  readonly label: string;
  readonly target: LoadTarget;
  /** Where the server's CPU time is read: its process tree, or this process (Steward). */
  readonly cpu: CpuSource;
}

export interface RunFigures {
  /** Successful requests per second of wall time. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ok: number;
  /** Failed requests by kind; a target with failures is reported, not hidden. */
  readonly failures: Readonly<Record<string, number>>;
  /** CPU ms per successful request: the load generator's process, and the server's. */
  readonly generatorCpuMsPerRequest: number;
  readonly serverCpuMsPerRequest: number;
  /** Open loop: due requests that found all slots taken. */
  readonly waitedForSlot?: number;
  /** Open loop: p50 from the actual send (service time), for contrast with the p50 above. */
  readonly serviceP50Ms?: number;
  readonly signedDuringRun?: number;
}

export interface TargetFigures {
  readonly closed16: RunFigures;
  readonly closed64: RunFigures;
  readonly open: RunFigures & { readonly rate: number };
}

const round = (value: number, digits = 3): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};

async function runOne(
  generator: LoadGenerator,
  target: PeerTarget,
  mode: LoadMode,
): Promise<RunFigures> {
  await generator.prepare(target.target);
  const before = cpuMsOf(target.cpu);
  const result: LoadResult = await generator.run({ target: target.target, mode });
  const serverMs = cpuMsOf(target.cpu) - before;
  await generator.reset();
  const latencies = Float64Array.from(result.latenciesNs);
  const stats =
    latencies.length > 0 ? summarize(latencies) : { medianNs: Number.NaN, p99Ns: Number.NaN };
  const per = (ms: number) => (result.ok > 0 ? round(ms / result.ok, 4) : Number.NaN);
  return {
    rps: round(result.ok / result.elapsedSeconds, 1),
    p50Ms: round(stats.medianNs / 1e6),
    p99Ms: round(stats.p99Ns / 1e6),
    ok: result.ok,
    failures: result.failures,
    generatorCpuMsPerRequest: per(result.generatorCpuMs),
    serverCpuMsPerRequest: per(serverMs),
    ...(mode.type === 'open'
      ? {
          waitedForSlot: result.waitedForSlot,
          serviceP50Ms:
            result.serviceNs.length > 0
              ? round(summarize(Float64Array.from(result.serviceNs)).medianNs / 1e6)
              : Number.NaN,
        }
      : {}),
    ...(result.signedDuringRun > 0 ? { signedDuringRun: result.signedDuringRun } : {}),
  };
}

/**
 * Warms up every target, then runs each load on every target in rotated order. `rate` is the
 * open loop's offered load in requests per second.
 */
export async function measureSideBySide(
  generator: LoadGenerator,
  targets: readonly PeerTarget[],
  options: Timing & { readonly rate: number; readonly log: (message: string) => void },
): Promise<Map<string, TargetFigures>> {
  const { log } = options;
  for (const target of targets) {
    await runOne(generator, target, {
      type: 'closed',
      concurrency: 16,
      seconds: options.warmupSeconds,
    });
  }
  const modes: { key: 'closed16' | 'closed64' | 'open'; mode: LoadMode }[] = [
    ...CLOSED_CONNECTIONS.map((connections) => ({
      key: `closed${connections}` as const,
      mode: { type: 'closed', concurrency: connections, seconds: options.closedSeconds } as const,
    })),
    {
      key: 'open',
      mode: {
        type: 'open',
        rate: options.rate,
        seconds: options.openSeconds,
        maxInFlight: OPEN_MAX_IN_FLIGHT,
      },
    },
  ];
  const figures = new Map<string, Partial<Record<'closed16' | 'closed64' | 'open', RunFigures>>>(
    targets.map((t) => [t.label, {}]),
  );
  for (const [index, { key, mode }] of modes.entries()) {
    for (let k = 0; k < targets.length; k++) {
      const target = targets[(index + k) % targets.length];
      if (target === undefined) continue;
      const run = await runOne(generator, target, mode);
      const entry = figures.get(target.label);
      if (entry !== undefined) entry[key] = run;
      const failed = Object.entries(run.failures)
        .map(([kind, n]) => `${kind} ×${n}`)
        .join(', ');
      log(
        `${target.label}, ${key === 'open' ? `open ${options.rate}/s` : key.replace('closed', 'closed ')}: ${run.rps} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms${failed === '' ? '' : `, FAILED ${failed}`}`,
      );
    }
  }
  const out = new Map<string, TargetFigures>();
  for (const [label, entry] of figures) {
    const { closed16, closed64, open } = entry;
    if (closed16 === undefined || closed64 === undefined || open === undefined) {
      throw new Error(`${label}: a load was not run`);
    }
    out.set(label, { closed16, closed64, open: { ...open, rate: options.rate } });
  }
  return out;
}
