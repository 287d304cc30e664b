import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  createBrotliCompress,
  createBrotliDecompress,
  createGunzip,
  createGzip,
  deflateRawSync,
  deflateSync,
  gunzipSync,
  gzipSync,
  inflateSync,
} from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  clientScriptTag,
  type InjectionEncoding,
  type InjectionPlan,
  injectClientStream,
  planInjection,
  type ResponseHeaders,
} from './client-injection.js';

const TAG = '<script src="/_lapse/client.js" data-login-url="/login" defer=""></script>';
const PAGE =
  '<!doctype html><html><head><title>Café ☕</title></head><body><p>日本語</p></body></html>';
const PAGE_WITH_TAG = PAGE.replace('</head>', `${TAG}</head>`);

/** Writes `chunks` through `stream` and returns everything it put out. */
async function streamThrough(stream: Duplex, chunks: readonly Buffer[]): Promise<Buffer> {
  const output: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        output.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(output);
}

/** Cuts `bytes` at the given offsets (any order, repeats allowed). */
function cutAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets)]
    .filter((at) => at > 0 && at < bytes.length)
    .sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

/** An independent oracle: the tag before the first `</head` + tag-name end, else at the end. */
function expectedInjection(page: Buffer, tag: string): Buffer {
  const match = /<\/head[\t\n\f\r />]/i.exec(page.toString('latin1'));
  const at = match === null ? page.length : match.index;
  return Buffer.concat([page.subarray(0, at), Buffer.from(tag), page.subarray(at)]);
}

const codecs = {
  identity: { encode: (bytes: Buffer) => bytes, decode: (bytes: Buffer) => bytes },
  gzip: {
    encode: (bytes: Buffer) => gzipSync(bytes),
    decode: (bytes: Buffer) => gunzipSync(bytes),
  },
  'deflate (zlib-wrapped)': {
    encode: (bytes: Buffer) => deflateSync(bytes),
    decode: (bytes: Buffer) => inflateSync(bytes),
  },
  'deflate (raw)': {
    encode: (bytes: Buffer) => deflateRawSync(bytes),
    decode: (bytes: Buffer) => inflateSync(bytes),
  },
  'deflate (raw, stored blocks)': {
    encode: (bytes: Buffer) => deflateRawSync(bytes, { level: 0 }),
    decode: (bytes: Buffer) => inflateSync(bytes),
  },
  br: {
    encode: (bytes: Buffer) => brotliCompressSync(bytes),
    decode: (bytes: Buffer) => brotliDecompressSync(bytes),
  },
} as const;

const encodingOf = (codec: keyof typeof codecs): InjectionEncoding =>
  codec.startsWith('deflate') ? 'deflate' : (codec as InjectionEncoding);

const html = (headers: ResponseHeaders = {}): ResponseHeaders => ({
  'content-type': 'text/html; charset=utf-8',
  ...headers,
});

describe('clientScriptTag', () => {
  it('renders the script tag with the login URL and the nonce', () => {
    expect(clientScriptTag({ loginUrl: '/login', nonce: 'r4nd0m+/=' })).toBe(
      '<script src="/_lapse/client.js" data-login-url="/login" nonce="r4nd0m+/=" defer=""></script>',
    );
  });

  it('leaves the nonce attribute out when there is none', () => {
    expect(clientScriptTag({ loginUrl: '/login' })).toBe(TAG);
    expect(clientScriptTag({ loginUrl: '/login', nonce: undefined })).toBe(TAG);
  });

  it('escapes attribute values so they cannot break out of the tag', () => {
    const tag = clientScriptTag({ loginUrl: `/login?a=1&b="x"<y>'z'`, nonce: '"><script>' });
    expect(tag).toBe(
      '<script src="/_lapse/client.js" data-login-url="/login?a=1&amp;b=&quot;x&quot;&lt;y&gt;&#39;z&#39;"' +
        ' nonce="&quot;&gt;&lt;script&gt;" defer=""></script>',
    );
  });
});

describe('planInjection', () => {
  it('injects into a plain HTML page, without a nonce', () => {
    expect(planInjection('GET', 200, html())).toEqual({ inject: true, encoding: 'identity' });
  });

  it.each([
    ['text/html', 'GET', 200],
    ['TEXT/HTML; Charset="UTF-8"', 'GET', 200],
    ['application/xhtml+xml', 'GET', 200],
    ['text/html', 'POST', 201],
    ['text/html', 'get', 404],
    ['text/html', 'GET', 500],
    ['text/html', 'GET', 503],
  ])('injects into %s answering %s with %i', (contentType, method, status) => {
    expect(planInjection(method, status, { 'content-type': contentType })).toMatchObject({
      inject: true,
    });
  });

  it.each([
    ['a HEAD request', 'HEAD', 200, html()],
    ['a lower-case head request', 'head', 200, html()],
    ['100 Continue', 'GET', 100, html()],
    ['101 Switching Protocols', 'GET', 101, html()],
    ['204 No Content', 'GET', 204, html()],
    ['205 Reset Content', 'GET', 205, html()],
    ['304 Not Modified', 'GET', 304, html()],
    ['Content-Length: 0', 'GET', 200, html({ 'content-length': '0' })],
  ])('skips %s: no body', (_label, method, status, headers) => {
    expect(planInjection(method, status, headers)).toEqual({ inject: false, reason: 'no-body' });
  });

  it.each([[301], [302], [303], [307], [206]])('skips status %i: not a whole page', (status) => {
    expect(planInjection('GET', status, html())).toEqual({ inject: false, reason: 'status' });
  });

  it.each([
    ['no Content-Type', {}],
    ['JSON', { 'content-type': 'application/json' }],
    ['plain text', { 'content-type': 'text/plain; charset=utf-8' }],
    ['a look-alike media type', { 'content-type': 'text/htmlx' }],
    ['JavaScript', { 'content-type': 'text/javascript' }],
  ])('skips %s: not HTML', (_label, headers: ResponseHeaders) => {
    expect(planInjection('GET', 200, headers)).toEqual({ inject: false, reason: 'not-html' });
  });

  it('skips UTF-16 and UTF-32 pages, where an ASCII tag is garbage', () => {
    for (const charset of ['utf-16', 'UTF-16LE', '"utf-16be"', 'utf-32']) {
      expect(
        planInjection('GET', 200, { 'content-type': `text/html; charset=${charset}` }),
      ).toEqual({
        inject: false,
        reason: 'unsupported-charset',
      });
    }
  });

  it('skips downloads, but not inline pages', () => {
    expect(
      planInjection(
        'GET',
        200,
        html({ 'content-disposition': 'Attachment; filename="page.html"' }),
      ),
    ).toEqual({ inject: false, reason: 'attachment' });
    expect(planInjection('GET', 200, html({ 'content-disposition': 'inline' }))).toMatchObject({
      inject: true,
    });
  });

  it('respects Cache-Control: no-transform', () => {
    expect(planInjection('GET', 200, html({ 'cache-control': 'private, No-Transform' }))).toEqual({
      inject: false,
      reason: 'no-transform',
    });
    expect(
      planInjection('GET', 200, html({ 'cache-control': 'no-cache, max-age=0' })),
    ).toMatchObject({
      inject: true,
    });
  });

  it.each([
    [undefined, 'identity'],
    ['identity', 'identity'],
    ['gzip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['GZIP', 'gzip'],
    [['gzip'], 'gzip'],
    ['deflate', 'deflate'],
    ['br', 'br'],
    [' br ', 'br'],
  ])('reads Content-Encoding %j as %s', (contentEncoding, encoding) => {
    expect(planInjection('GET', 200, html({ 'content-encoding': contentEncoding }))).toEqual({
      inject: true,
      encoding,
    });
  });

  it.each([['zstd'], ['compress'], ['gzip, br'], [['gzip', 'br']], ['deflate,gzip']])(
    'skips Content-Encoding %j: unsupported',
    (contentEncoding) => {
      expect(planInjection('GET', 200, html({ 'content-encoding': contentEncoding }))).toEqual({
        inject: false,
        reason: 'unsupported-encoding',
      });
    },
  );

  describe('Content-Security-Policy', () => {
    const withCsp = (csp: string | readonly string[]): InjectionPlan =>
      planInjection('GET', 200, html({ 'content-security-policy': csp }));

    it.each([
      ['a nonce', "script-src 'nonce-abc123'", 'abc123'],
      [
        'a nonce with base64 padding and URL-safe characters',
        "script-src 'nonce-a-b_c+d/e=='",
        'a-b_c+d/e==',
      ],
      [
        'a nonce beside strict-dynamic',
        "script-src 'nonce-n0nce' 'strict-dynamic' https: 'unsafe-inline'",
        'n0nce',
      ],
      ['a nonce beside self', "script-src 'self' 'nonce-n0nce'", 'n0nce'],
      ['a case-insensitive nonce prefix, the value kept as is', "script-src 'NONCE-AbC'", 'AbC'],
      ['a nonce in default-src', "default-src 'nonce-fallback'", 'fallback'],
      ['script-src over default-src', "default-src 'none'; script-src 'nonce-s'", 's'],
      [
        'script-src-elem over script-src',
        "script-src 'nonce-old'; script-src-elem 'nonce-elem'",
        'elem',
      ],
    ])('uses %s', (_label, csp, nonce) => {
      expect(withCsp(csp)).toEqual({ inject: true, encoding: 'identity', nonce });
    });

    it.each([
      ['self', "script-src 'self'"],
      ['self, in default-src', "default-src 'self'"],
      ['self, case-insensitively', "SCRIPT-SRC 'SELF'"],
      ['any source', 'script-src *'],
      ['no script directive at all', "img-src 'none'; style-src 'self'"],
      [
        'script-src-elem allowing self over a script-src that does not',
        "script-src 'none'; script-src-elem 'self'",
      ],
      [
        'script-src allowing self over a default-src that does not',
        "default-src 'none'; script-src 'self'",
      ],
      ['an empty policy', ''],
    ])('allows the script without a nonce: %s', (_label, csp) => {
      expect(withCsp(csp)).toEqual({ inject: true, encoding: 'identity' });
    });

    it.each([
      ['none', "script-src 'none'"],
      ['none, in default-src', "default-src 'none'"],
      [
        'none beside other sources (stricter than browsers, on purpose)',
        "script-src 'none' 'self'",
      ],
      ['an empty source list', "default-src 'self'; script-src"],
      ['strict-dynamic, which makes browsers ignore self', "script-src 'self' 'strict-dynamic'"],
      ['hosts only (the gateway does not know its origin)', 'script-src https://cdn.example'],
      ['schemes only', 'script-src https:'],
      ['an empty nonce', "script-src 'nonce-'"],
      ['a nonce with invalid characters', "script-src 'nonce-a*b'"],
      ['a hash only', "script-src 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='"],
      [
        'script-src-elem blocking where script-src would allow',
        "script-src 'self'; script-src-elem 'none'",
      ],
      ['a repeated directive, where the first wins', "script-src 'none'; script-src 'self'"],
    ])('skips a policy that blocks the script: %s', (_label, csp) => {
      expect(withCsp(csp)).toEqual({ inject: false, reason: 'csp' });
    });

    it('ignores Content-Security-Policy-Report-Only', () => {
      expect(
        planInjection(
          'GET',
          200,
          html({ 'content-security-policy-report-only': "script-src 'none'" }),
        ),
      ).toEqual({ inject: true, encoding: 'identity' });
    });

    it('requires every policy to allow the script, whether repeated headers or comma-joined', () => {
      for (const csp of [
        ["default-src 'self'", "script-src 'nonce-n1'"],
        "default-src 'self', script-src 'nonce-n1'",
        ["script-src 'nonce-n1'", "script-src 'nonce-n1' 'strict-dynamic'"],
        ["script-src 'self' 'nonce-other'", "script-src 'nonce-n1'"],
        ["script-src 'nonce-n0' 'nonce-n1'", "script-src 'nonce-n1' 'nonce-n2'"],
      ]) {
        expect(withCsp(csp), JSON.stringify(csp)).toEqual({
          inject: true,
          encoding: 'identity',
          nonce: 'n1',
        });
      }
    });

    it('skips when no single nonce satisfies every policy, or one policy blocks', () => {
      for (const csp of [
        ["script-src 'nonce-n1'", "script-src 'nonce-n2'"],
        "script-src 'nonce-n1', script-src 'nonce-n2' 'strict-dynamic'",
        ["script-src 'self'", "script-src 'self' 'strict-dynamic'"],
        ["default-src 'self'", "default-src 'none'"],
      ]) {
        expect(withCsp(csp), JSON.stringify(csp)).toEqual({ inject: false, reason: 'csp' });
      }
    });

    it('checks the CSP only once the page is otherwise injectable', () => {
      expect(
        planInjection('GET', 200, {
          'content-type': 'application/json',
          'content-security-policy': "default-src 'none'",
        }),
      ).toEqual({ inject: false, reason: 'not-html' });
    });
  });
});

describe('injectClientStream', () => {
  const page = Buffer.from(PAGE);

  it.each(Object.keys(codecs) as (keyof typeof codecs)[])(
    'round-trips a %s body through real zlib, the tag before </head>',
    async (codec) => {
      const { encode, decode } = codecs[codec];
      const output = await streamThrough(injectClientStream(encodingOf(codec), TAG), [
        encode(page),
      ]);
      expect(decode(output).toString()).toBe(PAGE_WITH_TAG);
    },
  );

  it.each(Object.keys(codecs) as (keyof typeof codecs)[])(
    'takes a %s body one byte at a time',
    async (codec) => {
      const { encode, decode } = codecs[codec];
      const encoded = encode(page);
      const bytes = [...encoded].map((byte) => Buffer.from([byte]));
      const output = await streamThrough(injectClientStream(encodingOf(codec), TAG), bytes);
      expect(decode(output).toString()).toBe(PAGE_WITH_TAG);
    },
  );

  it('re-encodes brotli at a moderate quality, still compressing', async () => {
    const big = Buffer.from(
      `<html><head></head><body>${'<p>hello, world</p>'.repeat(5_000)}</body></html>`,
    );
    const output = await streamThrough(injectClientStream('br', TAG), [brotliCompressSync(big)]);
    expect(output.length).toBeLessThan(big.length / 20);
    expect(brotliDecompressSync(output).toString()).toBe(expectedInjection(big, TAG).toString());
  });

  it.each([
    [
      'an upper-case end tag',
      '<HTML><HEAD><TITLE>x</TITLE></HEAD><BODY></BODY></HTML>',
      '<HTML><HEAD><TITLE>x</TITLE>#</HEAD><BODY></BODY></HTML>',
    ],
    [
      'whitespace before >',
      '<html><head></head\n><body></body>',
      '<html><head>#</head\n><body></body>',
    ],
    ['only the first </head>', '<head></head><p>"</head>"</p>', '<head>#</head><p>"</head>"</p>'],
    [
      'no </head>: appended at the end',
      '<!doctype html><title>x</title><p>hi',
      '<!doctype html><title>x</title><p>hi#',
    ],
    [
      '</header> is not </head>',
      '<body><header>x</header></body>',
      '<body><header>x</header></body>#',
    ],
    ['</head without an end is not </head>', '<p>a</heads> b</head', '<p>a</heads> b</head#'],
    ['a single byte', '<', '<#'],
  ])('handles %s', async (_label, input, expected) => {
    const output = await streamThrough(injectClientStream('identity', '#'), [Buffer.from(input)]);
    expect(output.toString()).toBe(expected);
  });

  it('keeps an empty body empty, whatever the encoding', async () => {
    for (const encoding of ['identity', 'gzip', 'deflate', 'br'] as const) {
      expect(await streamThrough(injectClientStream(encoding, TAG), []), encoding).toHaveLength(0);
    }
  });

  it('leaves a UTF-16 page (byte order mark) untouched', async () => {
    for (const bom of [Buffer.from([0xff, 0xfe]), Buffer.from([0xfe, 0xff])]) {
      const utf16 = Buffer.concat([bom, Buffer.from('<html><head></head></html>', 'utf16le')]);
      const chunks = [utf16.subarray(0, 1), utf16.subarray(1)];
      expect(await streamThrough(injectClientStream('identity', TAG), chunks)).toEqual(utf16);
    }
  });

  it('finds </head> split at every byte boundary, in two and three chunks', async () => {
    const bytes = Buffer.from(
      '<html><head><meta charset="utf-8"><title>é</title></HEAD><body>ü</body></html>',
    );
    const expected = expectedInjection(bytes, TAG);
    for (let first = 1; first < bytes.length; first += 1) {
      expect(
        await streamThrough(injectClientStream('identity', TAG), cutAt(bytes, [first])),
      ).toEqual(expected);
    }
    // Two cuts anywhere in and around the end tag: it can arrive in three pieces.
    const headEnd = bytes.indexOf('</HEAD>');
    for (let first = headEnd - 1; first <= headEnd + 8; first += 1) {
      for (let second = first + 1; second <= headEnd + 8; second += 1) {
        const output = await streamThrough(
          injectClientStream('identity', TAG),
          cutAt(bytes, [first, second]),
        );
        expect(output).toEqual(expected);
      }
    }
  });

  /** Random pages built from pieces that stress the matcher, multi-byte characters included. */
  const arbitraryPage = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          '</head>',
          '</HEAD >',
          '</head/>',
          '</hea',
          '</',
          '<',
          '</header>',
          '<head>',
          'h',
          'é',
          '日本',
          '😀',
          '\n',
        ),
        fc.string({ unit: 'grapheme', maxLength: 8 }),
      ),
      { maxLength: 40 },
    )
    .map((pieces) => Buffer.from(pieces.join('')));

  it('gives the original bytes plus exactly one tag, however the page is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryPage, fc.array(fc.nat(400)), async (bytes, cuts) => {
        const output = await streamThrough(injectClientStream('identity', TAG), cutAt(bytes, cuts));
        expect(output).toEqual(
          bytes.length === 0 ? Buffer.alloc(0) : expectedInjection(bytes, TAG),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same through any encoding, however the encoded body is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbitraryPage.filter((bytes) => bytes.length > 0),
        fc.constantFrom(...(Object.keys(codecs) as (keyof typeof codecs)[])),
        fc.array(fc.nat(200)),
        async (bytes, codec, cuts) => {
          const { encode, decode } = codecs[codec];
          const output = await streamThrough(
            injectClientStream(encodingOf(codec), TAG),
            cutAt(encode(bytes), cuts),
          );
          expect(decode(output)).toEqual(expectedInjection(bytes, TAG));
        },
      ),
      { numRuns: 150 },
    );
  });

  /**
   * Streams `totalBytes` of generated page through `transform` and records
   * the most bytes ever produced but not yet consumed: a transform that
   * buffered the page would hold all of it.
   */
  async function measureInFlight(
    totalBytes: number,
    makeChunk: () => Buffer,
    transform: readonly Duplex[],
  ): Promise<{ produced: number; consumed: number; maxInFlight: number; tail: Buffer }> {
    let produced = 0;
    let consumed = 0;
    let maxInFlight = 0;
    let tail = Buffer.alloc(0);
    const source = new Readable({
      read() {
        if (produced >= totalBytes) {
          this.push(null);
          return;
        }
        const chunk = makeChunk();
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        consumed += chunk.length;
        maxInFlight = Math.max(maxInFlight, produced - consumed);
        tail = Buffer.concat([tail, chunk]).subarray(-200);
        callback();
      },
    });
    await pipeline([source, ...transform, sink]);
    return { produced, consumed, maxInFlight, tail };
  }

  it('streams a 20 MB page with flat memory', async () => {
    // Every chunk ends with what could begin </head>, so the search runs (and holds back) all the way.
    const block = Buffer.from(`${'<p>é</p><div>日本</div>'.repeat(2_000)}</hea`);
    const { produced, consumed, maxInFlight, tail } = await measureInFlight(
      20 * 1024 * 1024,
      () => block,
      [injectClientStream('identity', TAG)],
    );
    expect(consumed).toBe(produced + TAG.length);
    expect(tail.toString().endsWith(`</hea${TAG}`)).toBe(true);
    expect(maxInFlight).toBeLessThan(256 * 1024);
  });

  it('streams a large gzip page with flat memory', async () => {
    const head = Buffer.from('<html><head></head><body>');
    let isFirst = true;
    // Random text barely compresses, so compressed buffers cannot hide a large amount of page.
    const nextChunk = () => {
      const chunk = isFirst ? head : Buffer.from(randomBytes(48 * 1024).toString('base64'));
      isFirst = false;
      return chunk;
    };
    const { produced, consumed, maxInFlight } = await measureInFlight(4 * 1024 * 1024, nextChunk, [
      createGzip({ level: 1 }),
      injectClientStream('gzip', TAG),
      createGunzip(),
    ]);
    expect(consumed).toBe(produced + TAG.length);
    expect(maxInFlight).toBeLessThan(1024 * 1024);
  });

  it.each([
    ['gzip', () => createGzip(), () => createGunzip(), constants.Z_SYNC_FLUSH],
    [
      'br',
      () => createBrotliCompress(),
      () => createBrotliDecompress(),
      constants.BROTLI_OPERATION_FLUSH,
    ],
  ] as const)(
    'passes a %s page streamed in parts on as it comes, not when the upstream is done',
    async (encoding, makeEncoder, makeDecoder, flushKind) => {
      const upstream = makeEncoder();
      const injection = injectClientStream(encoding, TAG);
      const browser = makeDecoder();
      let received = '';
      browser.on('data', (bytes: Buffer) => {
        received += bytes.toString();
      });
      const done = pipeline(upstream, injection, browser);

      upstream.write('<html><head></head><body><p>the shell</p>');
      upstream.flush(flushKind);
      await vi.waitFor(() =>
        expect(received).toBe(`<html><head>${TAG}</head><body><p>the shell</p>`),
      );

      upstream.end('<p>the rest</p></body></html>');
      await done;
      expect(received).toBe(
        `<html><head>${TAG}</head><body><p>the shell</p><p>the rest</p></body></html>`,
      );
    },
  );

  it.each([
    ['gzip', 'not gzip', Buffer.from('this is not gzip at all')],
    ['gzip', 'truncated gzip', gzipSync(page).subarray(0, 30)],
    ['deflate', 'truncated zlib deflate', deflateSync(page).subarray(0, 30)],
    ['deflate', 'truncated raw deflate', deflateRawSync(page).subarray(0, 30)],
    ['br', 'corrupt brotli', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02])],
  ] as const)('surfaces a corrupt %s body (%s) as an error', async (encoding, _label, body) => {
    const stream = injectClientStream(encoding, TAG);
    const failed = once(stream, 'error');
    stream.resume();
    stream.end(body);
    const [error] = await failed;
    expect(error).toBeInstanceOf(Error);
    expect(stream.destroyed).toBe(true);
    await expect(streamThrough(injectClientStream(encoding, TAG), [body])).rejects.toBeInstanceOf(
      Error,
    );
  });
});
