// nginx as the reference reverse proxy: a temp nginx.conf in a temp dir (pid,
// logs and temp paths inside it), one worker, a keep-alive upstream pool.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids, freePort, removeAtExit, spawnServer } from './processes.mjs';

export const NGINX = process.env.BENCH_NGINX ?? '/usr/sbin/nginx';

/** Whether nginx is installed where the bench looks for it. */
export function hasNginx() {
  return existsSync(NGINX);
}

function nginxConf(dir, port, upstreamPort) {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
  worker_connections 4096;
}
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # nginx closes a keep-alive connection after 1000 requests by default; node:http
  # never does. Lifted on both sides, so no target reconnects under load.
  keepalive_requests 1000000;
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Start nginx in front of the upstream on `upstreamPort`. Resolves with
 * `{ url, pids(), stop() }`; `pids()` is the master and its workers (for CPU time).
 */
export async function startNginx(upstreamPort) {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-bench-nginx-'));
  removeAtExit(dir);
  // The port is chosen free, then handed to nginx: another process could take it in
  // between, so try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConf(dir, port, upstreamPort));
    const server = spawnServer('nginx', NGINX, [
      '-p',
      dir,
      '-c',
      conf,
      '-e',
      join(dir, 'error.log'),
    ]);
    let exited = false;
    server.exited.then(() => {
      exited = true;
    });
    const started = Date.now();
    while (!exited && Date.now() - started < 10_000) {
      if (await canConnect(port)) {
        // Give the master a moment to fork its worker, then remember its pid.
        await new Promise((resolve) => setTimeout(resolve, 200));
        server.noteWorkers();
        return {
          url: `http://127.0.0.1:${port}`,
          pids: () => [server.pid, ...childPids(server.pid)],
          stop: server.stop,
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await server.stop();
    const log = existsSync(join(dir, 'error.log'))
      ? readFileSync(join(dir, 'error.log'), 'utf8')
      : '';
    if (attempt >= 3) throw new Error(`nginx did not start: ${log.trim().split('\n').slice(-3)}`);
  }
}

/** `nginx/1.22.1`, or undefined. */
export function nginxVersion() {
  const { stderr, stdout } = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  return /nginx\/[^\s]+/.exec(`${stderr}${stdout}`)?.[0];
}
