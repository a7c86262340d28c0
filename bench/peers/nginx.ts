/**
 * nginx as a peer of the HTTP gateway, when Debian's `nginx-light` (or any nginx) is installed:
 * a plain reverse proxy to the bench's HTTP upstream (`/http/…` → the upstream's `/…`), with
 * keep-alive to the upstream, one worker process (Steward and the bare proxy each run on one
 * event loop), no access log. Its configuration, pid file, logs and temporary paths live in a
 * temporary directory: it needs no privilege and touches nothing of the system's nginx.
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startProgram, stopChild, waitForHttp } from './processes.js';

export interface RunningNginx {
  readonly url: string;
  readonly child: ChildProcess;
  readonly version: string;
  close(): Promise<void>;
}

/** The nginx binary on the PATH, or undefined. */
export function nginxBinary(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function startNginx(binary: string, upstream: string): Promise<RunningNginx> {
  const dir = mkdtempSync(path.join(tmpdir(), 'steward-bench-nginx-'));
  const port = await freePort();
  const { host } = new URL(upstream);
  const at = (name: string) => path.join(dir, name);
  const config = `
worker_processes 1;
daemon off;
master_process on;
pid ${at('nginx.pid')};
error_log ${at('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${at('client_body')};
  proxy_temp_path ${at('proxy')};
  fastcgi_temp_path ${at('fastcgi')};
  uwsgi_temp_path ${at('uwsgi')};
  scgi_temp_path ${at('scgi')};
  keepalive_requests 1000000;
  upstream api {
    server ${host};
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${port};
    location = /__nginx { return 200 "ok"; }
    location /http/ {
      proxy_pass http://api/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
  writeFileSync(at('nginx.conf'), config);
  // `nginx -v` writes `nginx version: nginx/1.22.1` to standard error.
  const said = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  const version = `${said.stderr}${said.stdout}`.replace('nginx version:', '').trim() || 'nginx';
  const { child, output } = startProgram(binary, [
    '-p',
    dir,
    '-e',
    at('error.log'),
    '-c',
    at('nginx.conf'),
  ]);
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${url}/__nginx`, child, 15_000);
  } catch (error) {
    await close();
    throw new Error(`nginx did not start: ${(error as Error).message}\n${output()}`, {
      cause: error,
    });
  }
  return { url, child, version, close };
}
