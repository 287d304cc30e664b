// Many idle WebSockets through the gateway: what each one costs the gateway's
// heap, and whether each is closed (4401) on time when its session's idle
// deadline passes with no traffic.
//
// Every connection has its own session (the honest case: one deadline, one
// check group and one touch batch per socket). Sessions are signed in first,
// then the sockets are opened; the upgrade is each session's last activity.
// The deadline of a connection is its session's `lastActivityAt + idle` as the
// gateway's store recorded it (asked over IPC once all sockets are open), on
// the same system clock as the close times taken here.
import { Agent, request } from 'node:http';
import { WebSocket } from 'ws';
import { openFileLimit } from './processes.mjs';

/** File descriptors the gateway keeps besides two per bridged connection (client + upstream). */
const FD_MARGIN = 200;

/** How many connections the gateway can hold under this process's open-file limit. */
export function webSocketBudget(wanted) {
  const limit = openFileLimit();
  const fit = Math.floor((limit - FD_MARGIN) / 2);
  return { limit, count: Math.max(1, Math.min(wanted, fit)), isLimited: fit < wanted };
}

/** The lapse.yaml of the WebSocket gateway: memory store, idle `idleSeconds`. */
export function webSocketGatewayYaml(upstreamUrl, idleSeconds) {
  return [
    'version: 1',
    'policy:',
    `  defaults: { idle: ${idleSeconds}s, absolute: 1h, warn: 0s }`,
    'store: { type: memory }',
    'identity: { mode: upstream }',
    'gateway:',
    '  listen: 127.0.0.1:0',
    '  loginUrl: /login',
    '  development: true',
    '  routes:',
    `    - { path: /, upstream: "${upstreamUrl}" }`,
    '',
  ].join('\n');
}

/** Run `task(i)` for i in [0, n) with at most `limit` at once. */
async function pool(n, limit, task) {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** POST /login through the gateway; resolves with the new session id. */
function signIn(baseUrl, agent) {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, hostname, port, method: 'POST', path: '/login', headers: { 'content-length': 0 } },
      (res) => {
        res.resume();
        res.on('end', () => {
          const pair = (res.headers['set-cookie'] ?? [])
            .map((line) => line.split(';')[0])
            .find((p) => p.startsWith('lapse_sid='));
          if (res.statusCode !== 200 || pair === undefined) {
            reject(new Error(`sign-in answered ${res.statusCode} without a lapse_sid cookie`));
          } else {
            resolve(pair.slice('lapse_sid='.length));
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function percentile(sorted, p) {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/**
 * The whole WebSocket phase against a started gateway child (`gateway.ask`,
 * `gateway.info.url`). Returns the figures; throws when the setup itself
 * fails (sign-in, upgrade refused).
 */
export async function idleWebSocketPhase({ gateway, count, idleSeconds, concurrency, log }) {
  const base = gateway.info.url;
  const heap = async () => (await gateway.ask({ cmd: 'heap' })).memory;
  const webSocketsOpen = async () => (await gateway.ask({ cmd: 'heap' })).webSockets;

  const beforeSessions = await heap();
  log(`websockets: signing in ${count} sessions`);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const ids = new Array(count);
  const signInStarted = performance.now();
  await pool(count, 64, async (i) => {
    ids[i] = await signIn(base, agent);
  });
  agent.destroy();
  const signInSeconds = (performance.now() - signInStarted) / 1000;
  const afterSessions = await heap();

  log(`websockets: opening ${count} connections, ${concurrency} at a time`);
  const wsUrl = `${base.replace(/^http/, 'ws')}/live`;
  const sockets = new Array(count);
  let closedCount = 0;
  let onAllClosed = () => {};
  const allClosed = new Promise((resolve) => {
    onAllClosed = resolve;
  });
  const openStarted = performance.now();
  await pool(count, concurrency, (i) => {
    const entry = { sentAt: Date.now(), openAt: undefined, closeAt: undefined };
    sockets[i] = entry;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(wsUrl, {
        headers: { cookie: `lapse_sid=${ids[i]}` },
        perMessageDeflate: false,
      });
      socket.once('open', () => {
        entry.openAt = Date.now();
        resolve();
      });
      socket.once('unexpected-response', (_req, res) => {
        reject(new Error(`websocket upgrade ${i} answered ${res.statusCode}`));
      });
      socket.on('error', (error) => {
        if (entry.openAt === undefined) reject(error);
        else entry.error = error.message;
      });
      socket.once('close', (code, reason) => {
        entry.closeAt = Date.now();
        entry.code = code;
        entry.reason = reason.toString();
        if (++closedCount === count) onAllClosed();
      });
    });
  });
  const openSeconds = (performance.now() - openStarted) / 1000;
  const afterOpen = await heap();
  const openOnGateway = await webSocketsOpen();
  const closedDuringOpen = closedCount;
  log(
    `websockets: ${count} open in ${openSeconds.toFixed(1)} s (gateway holds ${openOnGateway}); ` +
      'now silent, waiting for the idle deadlines',
  );

  const { sessions } = await gateway.ask({ cmd: 'sessions', ids }, 120_000);
  const idleMs = idleSeconds * 1000;
  const deadlines = sessions.map((s) => (s === null ? Number.NaN : s.lastActivityAt + idleMs));
  const lastDeadline = Math.max(...deadlines.filter(Number.isFinite));
  const timeoutAt = lastDeadline + 15_000;
  await Promise.race([
    allClosed,
    new Promise((resolve) => setTimeout(resolve, Math.max(0, timeoutAt - Date.now()))),
  ]);
  const afterClose = await heap();

  // Per connection: lateness of its close against its session's idle deadline.
  const lateness = [];
  const codes = {};
  let early = 0;
  let unclosed = 0;
  let withinOneSecond = 0;
  let storeMismatch = 0;
  let touchOutsideUpgrade = 0;
  for (let i = 0; i < count; i++) {
    const entry = sockets[i];
    const session = sessions[i];
    if (session === null) {
      storeMismatch++;
      continue;
    }
    if (session.idleExpiresAt !== null && session.idleExpiresAt !== deadlines[i]) storeMismatch++;
    // The upgrade's touch must fall between sending it and the 101 (same clock, ms).
    if (session.lastActivityAt < entry.sentAt - 1 || session.lastActivityAt > entry.openAt + 1) {
      touchOutsideUpgrade++;
    }
    if (entry.closeAt === undefined) {
      unclosed++;
      continue;
    }
    const key = `${entry.code} ${entry.reason}`;
    codes[key] = (codes[key] ?? 0) + 1;
    const late = entry.closeAt - deadlines[i];
    lateness.push(late);
    if (late < 0) early++;
    if (late >= 0 && late <= 1000) withinOneSecond++;
  }
  lateness.sort((a, b) => a - b);
  const heapDelta = (after, before) => after.heapUsed - before.heapUsed;
  const offHeapDelta = (after, before) =>
    after.external + after.arrayBuffers - (before.external + before.arrayBuffers);
  return {
    connections: count,
    idleSeconds,
    signInSeconds,
    openSeconds,
    openConcurrency: concurrency,
    openOnGateway,
    closedDuringOpen,
    memory: { beforeSessions, afterSessions, afterOpen, afterClose },
    heapBytesPerSession: heapDelta(afterSessions, beforeSessions) / count,
    heapBytesPerConnection: heapDelta(afterOpen, afterSessions) / count,
    offHeapBytesPerConnection: offHeapDelta(afterOpen, afterSessions) / count,
    rssBytesPerConnection: (afterOpen.rss - afterSessions.rss) / count,
    heapBytesLeftPerConnectionAfterClose: heapDelta(afterClose, afterSessions) / count,
    closed: lateness.length,
    unclosed,
    closeCodes: codes,
    early,
    withinOneSecond,
    latenessMs: {
      min: lateness[0],
      p50: percentile(lateness, 0.5),
      p99: percentile(lateness, 0.99),
      max: lateness[lateness.length - 1],
    },
    storeMismatch,
    touchOutsideUpgrade,
  };
}
