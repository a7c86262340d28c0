/**
 * Processes the peers bench starts: free loopback ports, waiting until a server answers, the CPU
 * time a process tree has used (from /proc), and stopping a child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A loopback port that was free a moment ago (the kernel picks it; a race is unlikely). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Polls `url` until it answers 2xx, the child exits, or `timeoutMs` passes. */
export async function waitForHttp(
  url: string,
  child: ChildProcess | undefined,
  timeoutMs = 30_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    if (child !== undefined && child.exitCode !== null) {
      throw new Error(`${url}: the process exited (${child.exitCode}) before it answered`);
    }
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})`);
}

const TICKS_PER_SECOND = 100;

/** The process and its descendants, from /proc (Linux). */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const current = out[i] ?? pid;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        for (const child of children.split(/\s+/)) if (child !== '') out.push(Number(child));
      } catch {
        // The task ended meanwhile.
      }
    }
  }
  return out;
}

/**
 * CPU time (user + system, ms) used so far by `pid` and its live descendants, from
 * `/proc/<pid>/stat`; NaN where /proc is not there. For the bench's own process (where Steward
 * and the bare proxy run) use `process.cpuUsage()` instead: this reads other processes.
 */
export function treeCpuMs(pid: number): number {
  let ticks = 0;
  try {
    for (const member of tree(pid)) {
      try {
        const stat = readFileSync(`/proc/${member}/stat`, 'utf8');
        // Fields after the command name (which may hold spaces), from field 3 on.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // Gone meanwhile.
      }
    }
  } catch {
    return Number.NaN;
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** How to read a server's CPU time: a process tree, or this process. */
export type CpuSource = { readonly pid: number } | 'self';

export function cpuMsOf(source: CpuSource): number {
  if (source === 'self') {
    const used = process.cpuUsage();
    return (used.user + used.system) / 1000;
  }
  return treeCpuMs(source.pid);
}

/** Starts a program, its output kept (and shown on failure). */
export function startProgram(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => output };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}
