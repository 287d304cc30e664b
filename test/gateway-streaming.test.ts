/**
 * Bodies stream through the gateway: 50 MB each way arrive whole and intact,
 * and a lockstep exchange proves nothing is buffered (it would deadlock if
 * the gateway waited for a whole upload or download before passing it on).
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gatewayYaml,
  type RunningGateway,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers/gateway-harness.js';

const MB = 1024 * 1024;
const BODY_BYTES = 50 * MB;

/** A deterministic 64 KiB block, repeated to make large bodies cheaply. */
const BLOCK = Buffer.alloc(64 * 1024, 0);
for (let i = 0; i < BLOCK.length; i += 1) BLOCK[i] = (i * 31 + 7) & 0xff;

function expectedDigest(bytes: number): string {
  const hash = createHash('sha256');
  for (let sent = 0; sent < bytes; sent += BLOCK.length) hash.update(BLOCK);
  return hash.digest('hex');
}

/** Signals between the test and the upstream: resolved when the upstream has seen `bytes`. */
const uploadWaiters: Array<{ bytes: number; resolve: () => void }> = [];
let uploadSeen = 0;
/** The upstream's download waits here before sending its second half. */
let releaseDownload: () => void = () => undefined;

/** Whether the upstream saw its last /download cut off before it finished. */
let downloadAbandoned = false;

let upstream: Upstream;
let gateway: RunningGateway;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    if (req.url === '/upload' || req.url === '/upload-lockstep') {
      const hash = createHash('sha256');
      let bytes = 0;
      uploadSeen = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        uploadSeen = bytes;
        for (const waiter of uploadWaiters.splice(0)) {
          if (bytes >= waiter.bytes) waiter.resolve();
          else uploadWaiters.push(waiter);
        }
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, digest: hash.digest('hex') })));
      return;
    }
    if (req.url === '/download') {
      res.on('close', () => {
        downloadAbandoned = !res.writableFinished;
      });
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      let sent = 0;
      const pump = () => {
        while (sent < BODY_BYTES) {
          sent += BLOCK.length;
          if (!res.write(BLOCK)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.url === '/download-lockstep') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.write(BLOCK);
      releaseDownload = () => res.end(BLOCK);
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  gateway = await startGateway(
    gatewayYaml(upstream.url, {
      gateway: `  public: ["/**"]\n  limits: { maxBodyBytes: ${BODY_BYTES * 2} }`,
    }),
  );
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

function upload(path: string, chunks: AsyncIterable<Buffer>): Promise<string> {
  const { hostname, port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method: 'POST', path }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    (async () => {
      for await (const chunk of chunks) {
        if (!req.write(chunk)) await new Promise((drained) => req.once('drain', drained));
      }
      req.end();
    })().catch(reject);
  });
}

describe('streaming bodies', () => {
  it('passes a 50 MB chunked upload through whole and intact', async () => {
    async function* body() {
      for (let sent = 0; sent < BODY_BYTES; sent += BLOCK.length) yield BLOCK;
    }
    const answer = JSON.parse(await upload('/upload', body()));
    expect(answer).toEqual({ bytes: BODY_BYTES, digest: expectedDigest(BODY_BYTES) });
  });

  it('passes a 50 MB download through whole and intact', async () => {
    const res = await fetch(`${gateway.url}/download`);
    expect(res.status).toBe(200);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    expect({ bytes, digest: hash.digest('hex') }).toEqual({
      bytes: BODY_BYTES,
      digest: expectedDigest(BODY_BYTES),
    });
  });

  it('hands the upstream the first part of an upload before the rest exists', async () => {
    async function* body() {
      yield BLOCK;
      // The rest is produced only once the upstream has seen the first block:
      // a gateway that buffered the upload would wait forever here.
      await new Promise<void>((resolve) => uploadWaiters.push({ bytes: BLOCK.length, resolve }));
      yield BLOCK;
    }
    const answer = JSON.parse(await upload('/upload-lockstep', body()));
    expect(answer.bytes).toBe(2 * BLOCK.length);
    expect(uploadSeen).toBe(2 * BLOCK.length);
  });

  it('hands the client the first part of a download before the upstream has sent the rest', async () => {
    const res = await fetch(`${gateway.url}/download-lockstep`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let bytes = 0;
    while (bytes < BLOCK.length) {
      const { value, done } = await reader.read();
      if (done) throw new Error('ended early');
      bytes += value.length;
    }
    // The upstream sends its second half only now.
    releaseDownload();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.length;
    }
    expect(bytes).toBe(2 * BLOCK.length);
  });

  it('stops the upstream when the client goes away in the middle of a download', async () => {
    downloadAbandoned = false;
    const { hostname, port } = new URL(gateway.url);
    await new Promise<void>((resolve, reject) => {
      request({ host: hostname, port, path: '/download' }, (res) => {
        res.once('data', () => {
          res.destroy();
          resolve();
        });
      })
        .on('error', reject)
        .end();
    });
    await expect.poll(() => downloadAbandoned, { timeout: 5_000 }).toBe(true);
  });
});
