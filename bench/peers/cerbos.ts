/**
 * The Cerbos PDP as the peer of `POST /v1/authorize`: the binary the `@cerbos/cerbos-linux-x64`
 * npm package ships (a dev dependency, no download at install), run with a disk policy store in
 * a temporary directory, HTTP on a loopback port, audit and telemetry off.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CerbosPolicyFile } from './policies.js';
import { freePort, startProgram, stopChild, waitForHttp } from './processes.js';

export interface RunningCerbos {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly child: ChildProcess;
  readonly version: string;
  close(): Promise<void>;
}

/** The binary's path, or an error saying how to get it. */
export function cerbosBinary(): string {
  const require = createRequire(import.meta.url);
  try {
    const manifest = require.resolve('@cerbos/cerbos-linux-x64/package.json');
    return path.join(path.dirname(manifest), 'cerbos-linux-x64');
  } catch {
    throw new Error(
      'the Cerbos binary is not installed: `npm ci` installs @cerbos/cerbos-linux-x64 (Linux x64 only)',
    );
  }
}

/** Writes the policies, starts `cerbos server` on them and waits until it is healthy. */
export async function startCerbos(policies: readonly CerbosPolicyFile[]): Promise<RunningCerbos> {
  const dir = mkdtempSync(path.join(tmpdir(), 'steward-bench-cerbos-'));
  const policyDir = path.join(dir, 'policies');
  mkdirSync(policyDir);
  for (const { file, text } of policies) writeFileSync(path.join(policyDir, file), text);
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  // JSON is YAML: Cerbos reads this as its configuration file.
  const config = {
    server: {
      httpListenAddr: `127.0.0.1:${httpPort}`,
      grpcListenAddr: `127.0.0.1:${grpcPort}`,
    },
    storage: { driver: 'disk', disk: { directory: policyDir, watchForChanges: false } },
    audit: { enabled: false },
    telemetry: { disabled: true },
  };
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(configFile, JSON.stringify(config));
  const binary = cerbosBinary();
  const { child, output } = startProgram(
    binary,
    ['server', `--config=${configFile}`, '--log-level=error'],
    { ...process.env, CERBOS_NO_TELEMETRY: '1' },
  );
  const url = `http://127.0.0.1:${httpPort}`;
  const close = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${url}/_cerbos/health`, child, 60_000);
  } catch (error) {
    await close();
    throw new Error(`Cerbos did not start: ${(error as Error).message}\n${output()}`, {
      cause: error,
    });
  }
  const info = (await (await fetch(`${url}/api/server_info`)).json()) as { version?: string };
  return { url, child, version: info.version ?? 'unknown', close };
}
