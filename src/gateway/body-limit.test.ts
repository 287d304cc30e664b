import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { BodyLimit, BodyTooLargeError } from './body-limit.js';

/** Every byte that comes out of `source` piped through a limit of `limitBytes`. */
async function throughLimit(
  source: Iterable<Buffer | string>,
  limitBytes: number,
): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(source, { objectMode: false }),
    new BodyLimit(limitBytes),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(out);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('BodyLimit', () => {
  it('passes a body of exactly the limit through unchanged, over many chunks', async () => {
    const chunks = [Buffer.from('abc'), Buffer.from('defg'), Buffer.alloc(0), Buffer.from('hij')];
    expect((await throughLimit(chunks, 10)).toString()).toBe('abcdefghij');
  });

  it('fails with BodyTooLargeError one byte past the limit, across chunks', async () => {
    const error = await rejection(throughLimit([Buffer.from('abcde'), Buffer.from('fghijk')], 10));
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect((error as BodyTooLargeError).limitBytes).toBe(10);
    expect((error as BodyTooLargeError).name).toBe('BodyTooLargeError');
    expect((error as BodyTooLargeError).message).toContain('10 bytes');
  });

  it('passes an empty body through a limit of zero and fails any byte', async () => {
    expect((await throughLimit([], 0)).length).toBe(0);
    expect(await rejection(throughLimit(['x'], 0))).toBeInstanceOf(BodyTooLargeError);
  });

  it('counts bytes, not characters', async () => {
    expect((await throughLimit(['éé'], 4)).toString()).toBe('éé');
    expect(await rejection(throughLimit(['ééé'], 5))).toBeInstanceOf(BodyTooLargeError);
  });

  it('stops an endless body soon after the limit instead of reading it to its end', async () => {
    let chunksRead = 0;
    function* endless(): Generator<Buffer> {
      for (;;) {
        chunksRead += 1;
        yield Buffer.alloc(1024, 0x61);
      }
    }
    const error = await rejection(throughLimit(endless(), 64 * 1024));
    expect(error).toBeInstanceOf(BodyTooLargeError);
    // 65 chunks pass the limit; a little read-ahead of the stream machinery is allowed.
    expect(chunksRead).toBeGreaterThanOrEqual(65);
    expect(chunksRead).toBeLessThan(65 + 64);
  });

  it('passes each chunk on as it arrives, before the body ends', async () => {
    const source = new PassThrough();
    const limit = new BodyLimit(100);
    source.pipe(limit);
    const first = new Promise<Buffer>((resolve) => limit.once('data', resolve));
    source.write(Buffer.from('hello'));
    expect((await first).toString()).toBe('hello');
    source.end();
    limit.resume();
    await new Promise((resolve) => limit.once('end', resolve));
  });

  it('limits a chunked upload that node:http receives', async () => {
    const results: Array<{ bytes: number } | { error: unknown }> = [];
    const server = createServer(async (req, res) => {
      let bytes = 0;
      try {
        await pipeline(
          req,
          new BodyLimit(1000),
          new Writable({
            write(chunk: Buffer, _encoding, callback) {
              bytes += chunk.length;
              callback();
            },
          }),
        );
        results.push({ bytes });
        res.end('ok');
      } catch (error) {
        results.push({ error });
        res.writeHead(413, { connection: 'close' });
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const upload = (chunks: readonly Buffer[]) =>
      new Promise<number | 'reset'>((resolve) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            method: 'POST',
            path: '/',
            headers: { 'transfer-encoding': 'chunked' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode as number);
          },
        );
        // The server may close on a body it refused before this side has read its answer.
        req.on('error', () => resolve('reset'));
        for (const chunk of chunks) req.write(chunk);
        req.end();
      });
    try {
      expect(await upload([Buffer.alloc(600), Buffer.alloc(400)])).toBe(200);
      expect([413, 'reset']).toContain(await upload([Buffer.alloc(600), Buffer.alloc(401)]));
      expect(results[0]).toStrictEqual({ bytes: 1000 });
      expect((results[1] as { error: unknown }).error).toBeInstanceOf(BodyTooLargeError);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
