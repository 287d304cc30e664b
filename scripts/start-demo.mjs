// `npm start`: the demo app (demo/app.mjs) on 127.0.0.1:3000, and the lapse gateway in front
// of it on 127.0.0.1:8080 (`lapse serve --config demo/lapse.yaml`), built first if needed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/cli/bin.js');
const tsc = join(root, 'node_modules/typescript/bin/tsc');
/** Written by the build after the compiled code: when it is newer than every source, the build is current. */
const bundle = join(root, 'dist/browser/lapse-client.js');
const APP_PORT = 3000;
const GATEWAY_URL = 'http://127.0.0.1:8080/';
const DASHBOARD_URL = 'http://127.0.0.1:7778/';
const HEALTH_URL = `${GATEWAY_URL}healthz`;
const HEALTH_WAIT_MS = 15_000;
/** How long the gateway gets to stop after a forwarded signal before it is killed. */
const STOP_GRACE_MS = 10_000;

/** The newest modification time of any file under `dir`, ms. */
function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mtimeMs = entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs;
    if (mtimeMs > newest) newest = mtimeMs;
  }
  return newest;
}

function buildIfNeeded() {
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= newestMtimeMs(join(root, 'src'))) return;
  if (!existsSync(tsc)) {
    console.error(
      'lapse demo: the build is missing or stale and TypeScript is not installed; run `npm ci`',
    );
    process.exit(1);
  }
  console.log('building…');
  // The same steps as `npm run build`: the package, the browser code, the browser SDK
  // bundle the gateway serves at /_lapse/client.js, and the admin dashboard's files.
  for (const args of [
    [tsc, '-p', 'tsconfig.build.json'],
    [tsc, '-p', 'tsconfig.browser.build.json'],
    [join(root, 'scripts/build-client.mjs')],
    [join(root, 'scripts/copy-dashboard.mjs')],
  ]) {
    const build = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) {
      console.error('lapse demo: the build failed (see above)');
      process.exit(1);
    }
  }
}

async function startApp() {
  // Imported only after the build: the app reads the identity header helpers from dist/.
  const { startDemoApp } = await import('../demo/app.mjs');
  try {
    return await startDemoApp({ port: APP_PORT });
  } catch (error) {
    console.error(
      error.code === 'EADDRINUSE'
        ? `lapse demo: port ${APP_PORT} is already in use; the demo app needs it. Stop what is listening there and run npm start again.`
        : `lapse demo: the demo app could not start: ${error.message}`,
    );
    process.exit(1);
  }
}

/** Whether the gateway answers its health check within `HEALTH_WAIT_MS`; stops early if `isDone()`. */
async function waitForGateway(isDone) {
  const deadline = Date.now() + HEALTH_WAIT_MS;
  while (Date.now() < deadline && !isDone()) {
    try {
      const response = await fetch(HEALTH_URL, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.ok) return true;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

function printBanner() {
  console.log(`
  lapse demo is running

    Open      ${GATEWAY_URL}
              (the gateway; the app on http://127.0.0.1:${APP_PORT} sits behind it)
    Users     are signed out after 2 minutes without activity, warned 30 s before.
    Admins    get a warning 20 s before the 60 s idle timeout.
    Dashboard ${DASHBOARD_URL}
              (live sessions counting down, revoke, events; loopback only, no token)
    Stop      Ctrl+C
`);
}

/** The exit code a child's end maps to: its own code, or 128 + the signal's number. */
function exitCodeOf(code, signal) {
  if (code !== null) return code;
  return 128 + (constants.signals[signal] ?? 0);
}

buildIfNeeded();
const app = await startApp();
const gateway = spawn(process.execPath, [bin, 'serve', '--config', 'demo/lapse.yaml'], {
  cwd: root,
  stdio: 'inherit',
});

let hasExited = false;
gateway.on('error', async (error) => {
  console.error(`lapse demo: could not start the gateway: ${error.message}`);
  await app.close();
  process.exit(1);
});
gateway.on('exit', async (code, signal) => {
  hasExited = true;
  await app.close();
  process.exit(exitCodeOf(code, signal));
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (hasExited) return;
    gateway.kill(signal);
    setTimeout(() => {
      if (!hasExited) gateway.kill('SIGKILL');
    }, STOP_GRACE_MS).unref();
  });
}

if (await waitForGateway(() => hasExited)) {
  printBanner();
} else if (!hasExited) {
  console.error(
    `lapse demo: the gateway did not answer ${HEALTH_URL} within ${HEALTH_WAIT_MS / 1000} s; see its output above (Ctrl+C stops the demo)`,
  );
}
