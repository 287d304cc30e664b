// The lapse gateway in its own process (forked by run.mjs with --expose-gc).
// It waits for `{ cmd: 'start', yaml, auditFile? }`, builds the gateway from that
// lapse.yaml with the real loader (with `auditFile`: metrics, audit log to that
// file and anomaly detection on), listens, and sends `{ ready: true, url }`.
// Then it answers, over IPC:
//
//   { cmd: 'heap' }           process.memoryUsage() after two full GCs, and the open WebSockets
//   { cmd: 'sessions', ids }  each session's lastActivityAt / idleExpiresAt from the store
//
// SIGTERM closes the gateway and exits normally (so --cpu-prof gets written).

import { createGateway, createGatewayLogger, loadGatewayConfig } from '../../dist/gateway/index.js';
import { hashSessionId } from '../../dist/index.js';

let gateway;

function fullGc() {
  if (typeof globalThis.gc !== 'function') throw new Error('start the gateway with --expose-gc');
  globalThis.gc();
  globalThis.gc();
}

async function answer(message) {
  switch (message.cmd) {
    case 'heap': {
      fullGc();
      return { memory: process.memoryUsage(), webSockets: gateway.webSocketCount };
    }
    case 'sessions': {
      const { store } = gateway.lapse.authority;
      const sessions = [];
      for (const id of message.ids) {
        const record = await store.get(hashSessionId(id));
        sessions.push(
          record === undefined
            ? null
            : {
                lastActivityAt: record.lastActivityAt,
                idleExpiresAt: record.idleExpiresAt,
                endedAt: record.endedAt ?? null,
              },
        );
      }
      return { sessions };
    }
    default:
      throw new Error(`unknown command ${message.cmd}`);
  }
}

process.on('message', (message) => {
  if (message?.cmd === 'start') {
    start(message.yaml, message.auditFile).then(
      (url) => process.send({ ready: true, url }),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
    return;
  }
  answer(message).then(
    (result) => process.send({ reply: message.id, ...result }),
    (error) => process.send({ reply: message.id, error: String(error?.message ?? error) }),
  );
});

async function start(yaml, auditFile) {
  const config = loadGatewayConfig(yaml, 'bench-gateway.yaml', {});
  gateway = await createGateway({
    config,
    logger: createGatewayLogger({ level: 'silent' }),
    ...(auditFile === undefined ? {} : { observability: { audit: { destination: auditFile } } }),
  });
  return gateway.listen();
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await gateway?.close(1_000).catch(() => undefined);
  process.exit(0);
}
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', stop);
