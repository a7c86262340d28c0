/**
 * The `steward` CLI as a real subprocess, the way a person or a script runs it, and a URL where
 * nothing listens (for "Steward is down" cases).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** STEWARD_URL and STEWARD_ADMIN_KEY of the Steward under test. */
  readonly url: string;
  readonly key: string;
  /** Overrides; an undefined value removes the variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Written to stdin, which is then closed (a command that wrongly waits on it ends). */
  readonly input?: string;
}

/** Runs `steward <args>` with tsx from the repository root. */
export function runCli(args: readonly string[], options: CliOptions): Promise<CliRun> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    // The developer's own STEWARD_* settings must not leak into what is tested.
    if (value !== undefined && !key.startsWith('STEWARD_')) env[key] = value;
  }
  const wanted = {
    STEWARD_URL: options.url,
    STEWARD_ADMIN_KEY: options.key,
    STEWARD_CLI_ENTRY: '1',
    ...options.env,
  };
  for (const [key, value] of Object.entries(wanted)) {
    if (value !== undefined) env[key] = value;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Where nothing listens: a port the OS just gave out and took back. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return `http://127.0.0.1:${address.port}`;
}
