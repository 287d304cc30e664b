/**
 * `injectClient: true` (SPEC section 5): the gateway adds the browser SDK's
 * script tag to the HTML pages it proxies. Three steps, each its own export:
 *
 * 1. {@link planInjection} decides from the status and headers alone whether a
 *    response can take the tag (a page with a body, an encoding we can undo,
 *    a Content-Security-Policy that lets the script run) and with which nonce;
 * 2. {@link clientScriptTag} renders the tag;
 * 3. {@link injectClientStream} rewrites the body as it streams: decode,
 *    insert before the first `</head>`, re-encode with the same encoding.
 *
 * When injecting, the caller drops `Content-Length` (and the other
 * {@link HEADERS_INVALIDATED_BY_INJECTION}) because the body grows, and keeps
 * `Content-Encoding`, because the rewritten body is encoded the same way.
 */
import { Duplex, pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import {
  constants,
  createBrotliCompress,
  createBrotliDecompress,
  createDeflate,
  createGunzip,
  createGzip,
  createInflate,
  createInflateRaw,
} from 'node:zlib';

/** Where the gateway serves the browser SDK (SPEC section 4). */
/** Where the gateway serves the browser SDK, and where the injected tag points. */
export const CLIENT_SCRIPT_PATH = '/_lapse/client.js';

/** A body encoding the gateway can undo and redo while streaming. */
export type InjectionEncoding = 'identity' | 'gzip' | 'deflate' | 'br';

/**
 * Why a response is passed through without the tag:
 *
 * - `no-body`: a `HEAD` request, a `1xx`, `204`, `205` or `304` status, or `Content-Length: 0`;
 * - `status`: a body that is not a page the person sees whole: a redirect (`3xx`) or `206 Partial Content`;
 * - `not-html`: the media type is not `text/html` or `application/xhtml+xml`;
 * - `unsupported-charset`: a UTF-16 or UTF-32 page, where an ASCII tag would be garbage;
 * - `attachment`: `Content-Disposition: attachment`, a download to keep byte for byte;
 * - `no-transform`: `Cache-Control: no-transform`, which forbids a proxy to change the body (RFC 9111 section 5.2.2.6);
 * - `unsupported-encoding`: a `Content-Encoding` other than one of gzip, deflate, br (one, not stacked);
 * - `csp`: a `Content-Security-Policy` would block the script (it allows neither `'self'` nor a nonce for it).
 */
export type InjectionSkipReason =
  | 'no-body'
  | 'status'
  | 'not-html'
  | 'unsupported-charset'
  | 'attachment'
  | 'no-transform'
  | 'unsupported-encoding'
  | 'csp';

/** What {@link planInjection} decided. */
export type InjectionPlan =
  | { readonly inject: false; readonly reason: InjectionSkipReason }
  | {
      readonly inject: true;
      /** The body's encoding, to pass to {@link injectClientStream}. */
      readonly encoding: InjectionEncoding;
      /** The page's CSP nonce, to pass to {@link clientScriptTag}; absent when none is needed or offered. */
      readonly nonce?: string;
    };

/** Response headers as node and undici give them: keyed by lower-case name, repeated ones as arrays. */
export type ResponseHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Response headers that no longer describe the body once the tag is in it,
 * for the caller to drop: its length and any digest of it. `Content-Encoding`
 * stays: {@link injectClientStream} re-encodes with the same encoding.
 *
 * @example
 * import { HEADERS_INVALIDATED_BY_INJECTION } from './client-injection.js';
 * for (const name of HEADERS_INVALIDATED_BY_INJECTION) delete headers[name];
 */
export const HEADERS_INVALIDATED_BY_INJECTION = [
  'content-length',
  'content-md5',
  'content-digest',
  'repr-digest',
] as const;

const HTML_MEDIA_TYPES = new Set(['text/html', 'application/xhtml+xml']);
const STATUSES_WITHOUT_BODY = new Set([204, 205, 304]);

/** The values of a header, repeated headers and comma-joined lists alike, trimmed, empty ones dropped. */
function listValues(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = typeof value === 'string' ? value : value.join(',');
  return joined
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** A singleton header's value (the first, should an upstream repeat it). */
function singleValue(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0];
}

/** `type/subtype` and the parameters of a `Content-Type`, lower-cased, parameter quotes removed. */
function parseMediaType(contentType: string): { type: string; parameters: Map<string, string> } {
  const [type = '', ...rest] = contentType.split(';');
  const parameters = new Map<string, string>();
  for (const parameter of rest) {
    const equals = parameter.indexOf('=');
    if (equals === -1) continue;
    const name = parameter.slice(0, equals).trim().toLowerCase();
    const value = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (!parameters.has(name)) parameters.set(name, value);
  }
  return { type: type.trim().toLowerCase(), parameters };
}

/** The single content coding of a body, or `undefined` when it is one we cannot undo. */
function bodyEncoding(
  contentEncoding: string | readonly string[] | undefined,
): InjectionEncoding | undefined {
  const codings = listValues(contentEncoding)
    .map((coding) => coding.toLowerCase())
    .filter((coding) => coding !== 'identity');
  if (codings.length === 0) return 'identity';
  if (codings.length > 1) return undefined; // stacked encodings: rare enough not to undo
  switch (codings[0]) {
    case 'gzip':
    case 'x-gzip':
      return 'gzip';
    case 'deflate':
      return 'deflate';
    case 'br':
      return 'br';
    default:
      return undefined;
  }
}

/** One CSP policy: directive name (lower case) to its source expressions; the first of a repeated directive wins. */
type CspPolicy = ReadonlyMap<string, readonly string[]>;

/** The policies of every `Content-Security-Policy` header (CSP3 "parse a serialized CSP list"). */
function parseCspPolicies(value: string | readonly string[] | undefined): CspPolicy[] {
  return listValues(value).map((serialized) => {
    const policy = new Map<string, readonly string[]>();
    for (const directive of serialized.split(';')) {
      const [name, ...sources] = directive.trim().split(/[\t\n\f\r ]+/);
      if (name === undefined || !/^[A-Za-z0-9-]+$/.test(name)) continue;
      const lowerName = name.toLowerCase();
      if (!policy.has(lowerName)) policy.set(lowerName, sources);
    }
    return policy;
  });
}

/** `'nonce-…'` with a valid base64 value (CSP3 `nonce-source`); the prefix is case-insensitive. */
const NONCE_SOURCE = /^'nonce-([A-Za-z0-9+/_-]+={0,2})'$/i;

/** Which directive governs a `<script src>` element: the first present of these (CSP3 fallback list). */
const SCRIPT_ELEMENT_DIRECTIVES = ['script-src-elem', 'script-src', 'default-src'] as const;

/**
 * The nonce the tag needs for every policy to let `/_lapse/client.js` run, `''`
 * when none is needed nor offered, or `undefined` when some policy blocks it.
 *
 * Per policy: its governing directive's sources. No directive: no constraint.
 * `'none'` (or an empty list) blocks; this is stricter than browsers, which
 * ignore `'none'` beside other sources. `'self'` or `*` allow a same-origin
 * script unless `'strict-dynamic'` is there (browsers then ignore them);
 * otherwise the script needs one of the policy's nonces. Host and scheme
 * sources are not matched: the gateway does not know its public origin.
 * Every policy must pass, so the nonce must be common to all that need one.
 */
function nonceForPolicies(policies: readonly CspPolicy[]): string | undefined {
  let required: string[] | undefined;
  let offered: string | undefined;
  for (const policy of policies) {
    const directive = SCRIPT_ELEMENT_DIRECTIVES.find((name) => policy.has(name));
    if (directive === undefined) continue;
    const sources = policy.get(directive) ?? [];
    const keywords = new Set(sources.map((source) => source.toLowerCase()));
    if (sources.length === 0 || keywords.has("'none'")) return undefined;
    const nonces = sources.flatMap((source) => NONCE_SOURCE.exec(source)?.[1] ?? []);
    offered ??= nonces[0];
    const allowsSameOrigin =
      !keywords.has("'strict-dynamic'") && (keywords.has("'self'") || keywords.has('*'));
    if (allowsSameOrigin) continue;
    required = required === undefined ? nonces : required.filter((nonce) => nonces.includes(nonce));
    if (required.length === 0) return undefined;
  }
  return required?.[0] ?? offered ?? '';
}

/**
 * Whether an upstream response can take the browser SDK's script tag, and how.
 * Reads only the status and headers; the body is left to
 * {@link injectClientStream}. `Content-Security-Policy-Report-Only` is
 * ignored (it blocks nothing); a policy delivered in a `<meta>` tag is not
 * seen. When the answer is `inject: true`, drop
 * {@link HEADERS_INVALIDATED_BY_INJECTION} (at least `Content-Length`) and keep
 * `Content-Encoding`.
 *
 * @example
 * import { clientScriptTag, injectClientStream, planInjection } from './client-injection.js';
 * const plan = planInjection('GET', 200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
 * if (plan.inject) {
 *   const tag = clientScriptTag({ loginUrl: '/login', nonce: plan.nonce });
 *   body = body.pipe(injectClientStream(plan.encoding, tag));
 * }
 */
export function planInjection(
  method: string,
  status: number,
  headers: ResponseHeaders,
): InjectionPlan {
  if (method.toUpperCase() === 'HEAD' || status < 200 || STATUSES_WITHOUT_BODY.has(status)) {
    return { inject: false, reason: 'no-body' };
  }
  if (status === 206 || (status >= 300 && status < 400) || status > 599) {
    return { inject: false, reason: 'status' };
  }
  if (singleValue(headers['content-length'])?.trim() === '0')
    return { inject: false, reason: 'no-body' };

  const { type, parameters } = parseMediaType(singleValue(headers['content-type']) ?? '');
  if (!HTML_MEDIA_TYPES.has(type)) return { inject: false, reason: 'not-html' };
  if (/^utf-(16|32)/.test(parameters.get('charset') ?? '')) {
    return { inject: false, reason: 'unsupported-charset' };
  }
  const disposition = singleValue(headers['content-disposition'])
    ?.split(';')[0]
    ?.trim()
    .toLowerCase();
  if (disposition === 'attachment') return { inject: false, reason: 'attachment' };
  const cacheDirectives = listValues(headers['cache-control']).map((directive) =>
    directive.split('=')[0]?.trim().toLowerCase(),
  );
  if (cacheDirectives.includes('no-transform')) return { inject: false, reason: 'no-transform' };

  const encoding = bodyEncoding(headers['content-encoding']);
  if (encoding === undefined) return { inject: false, reason: 'unsupported-encoding' };

  const nonce = nonceForPolicies(parseCspPolicies(headers['content-security-policy']));
  if (nonce === undefined) return { inject: false, reason: 'csp' };
  return nonce === '' ? { inject: true, encoding } : { inject: true, encoding, nonce };
}

const ATTRIBUTE_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '"': '&quot;',
  "'": '&#39;',
  '<': '&lt;',
  '>': '&gt;',
};

function escapeAttribute(value: string): string {
  return value.replace(/[&"'<>]/g, (char) => ATTRIBUTE_ESCAPES[char] ?? char);
}

/**
 * The script tag that loads the browser SDK from the gateway, attribute values
 * escaped. `defer=""` rather than a bare `defer` keeps the tag well-formed XML
 * for `application/xhtml+xml` pages.
 *
 * @example
 * import { clientScriptTag } from './client-injection.js';
 * clientScriptTag({ loginUrl: '/login', nonce: 'r4nd0m' });
 * // '<script src="/_lapse/client.js" data-login-url="/login" nonce="r4nd0m" defer=""></script>'
 */
export function clientScriptTag(options: {
  readonly nonce?: string | undefined;
  readonly loginUrl: string;
}): string {
  const nonce = options.nonce === undefined ? '' : ` nonce="${escapeAttribute(options.nonce)}"`;
  return `<script src="${CLIENT_SCRIPT_PATH}" data-login-url="${escapeAttribute(options.loginUrl)}"${nonce} defer=""></script>`;
}

/** `</head` and one byte that ends a tag name: the HTML tokenizer's end of the `head` end tag's name. */
const HEAD_END_LENGTH = 7;
const LESS_THAN = 0x3c;
const SLASH = 0x2f;
const HEAD_LETTERS = [0x68, 0x65, 0x61, 0x64]; // h e a d
const TAG_NAME_ENDS = new Set([0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x2f, 0x3e]); // whitespace, '/', '>'
const EMPTY = Buffer.alloc(0);

/** Whether the byte at `offset` of a `</head>` match can be `byte` (ASCII letters case-insensitively). */
function matchesHeadEndByte(byte: number, offset: number): boolean {
  if (offset === 0) return byte === LESS_THAN;
  if (offset === 1) return byte === SLASH;
  if (offset < 6) return (byte | 0x20) === HEAD_LETTERS[offset - 2];
  return TAG_NAME_ENDS.has(byte);
}

/** Whether `bytes` from `start` on (possibly cut short by the end of `bytes`) match `</head>`. */
function matchesHeadEndFrom(bytes: Buffer, start: number): boolean {
  const end = Math.min(bytes.length, start + HEAD_END_LENGTH);
  for (let at = start; at < end; at += 1) {
    if (!matchesHeadEndByte(bytes[at] as number, at - start)) return false;
  }
  return true;
}

/** Where the first whole `</head>` starts in `bytes`, or -1. */
function indexOfHeadEnd(bytes: Buffer): number {
  for (let at = bytes.indexOf('</'); at !== -1; at = bytes.indexOf('</', at + 1)) {
    if (at + HEAD_END_LENGTH > bytes.length) return -1;
    if (matchesHeadEndFrom(bytes, at)) return at;
  }
  return -1;
}

/** How many bytes at the end of `bytes` could begin a `</head>` that the next chunk completes. */
function partialHeadEndLength(bytes: Buffer): number {
  for (
    let start = Math.max(0, bytes.length - (HEAD_END_LENGTH - 1));
    start < bytes.length;
    start += 1
  ) {
    if (matchesHeadEndFrom(bytes, start)) return bytes.length - start;
  }
  return 0;
}

function startsWithUtf16ByteOrderMark(bytes: Buffer): boolean {
  return (bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe);
}

/**
 * Inserts the tag before the first `</head>` of a decoded HTML byte stream, or
 * at the end when there is none (the end tag is optional in HTML), then
 * passes everything through untouched. Holds back at most the 6 bytes that
 * could begin a `</head>` split across chunks. Bytes, not text: the match is
 * ASCII, and `<` never occurs inside a multi-byte UTF-8 sequence. A UTF-16
 * byte order mark means an ASCII tag would corrupt the page: pass-through.
 * An empty body stays empty.
 */
class HeadEndTagInjector extends Transform {
  readonly #tag: Buffer;
  #state: 'sniffing-byte-order-mark' | 'searching' | 'passing-through' = 'sniffing-byte-order-mark';
  #heldBack: Buffer = EMPTY;

  constructor(tag: string) {
    super();
    this.#tag = Buffer.from(tag, 'utf8');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#state === 'passing-through') {
      callback(null, chunk);
      return;
    }
    const bytes = this.#heldBack.length === 0 ? chunk : Buffer.concat([this.#heldBack, chunk]);
    this.#heldBack = EMPTY;
    if (this.#state === 'sniffing-byte-order-mark') {
      if (bytes.length < 2) {
        this.#heldBack = Buffer.from(bytes);
        callback();
        return;
      }
      if (startsWithUtf16ByteOrderMark(bytes)) {
        this.#state = 'passing-through';
        callback(null, bytes);
        return;
      }
      this.#state = 'searching';
    }
    const headEnd = indexOfHeadEnd(bytes);
    if (headEnd !== -1) {
      this.#state = 'passing-through';
      if (headEnd > 0) this.push(bytes.subarray(0, headEnd));
      this.push(this.#tag);
      callback(null, bytes.subarray(headEnd));
      return;
    }
    const keep = partialHeadEndLength(bytes);
    // A copy, so the held-back bytes do not pin the whole chunk in memory.
    this.#heldBack = keep === 0 ? EMPTY : Buffer.from(bytes.subarray(bytes.length - keep));
    callback(null, keep === bytes.length ? undefined : bytes.subarray(0, bytes.length - keep));
  }

  override _flush(callback: TransformCallback): void {
    if (this.#state === 'passing-through') {
      callback();
      return;
    }
    if (this.#state === 'sniffing-byte-order-mark' && this.#heldBack.length === 0) {
      callback(); // an empty body
      return;
    }
    if (this.#heldBack.length > 0) this.push(this.#heldBack);
    this.#heldBack = EMPTY;
    callback(null, this.#tag);
  }
}

/**
 * Whether a `Content-Encoding: deflate` body starts with a zlib header (RFC
 * 1950: compression method 8, window at most 32K, header check a multiple of
 * 31) rather than being raw deflate (RFC 1951), which servers send too and
 * browsers accept.
 */
function isZlibWrapped(firstBytes: Buffer): boolean {
  const [methodAndInfo, flags] = firstBytes;
  if (methodAndInfo === undefined || flags === undefined) return false;
  return (
    (methodAndInfo & 0x0f) === 8 &&
    methodAndInfo >> 4 <= 7 &&
    ((methodAndInfo << 8) | flags) % 31 === 0
  );
}

/** Moderate, fast levels: the gateway re-encodes every injected page. */
const GZIP_LEVEL = 6;
const BROTLI_QUALITY = 4;

/** The zlib streams that undo and redo an encoding, and the flush that pushes out what the encoder holds. */
function codecFor(
  encoding: Exclude<InjectionEncoding, 'identity'>,
  firstBytes: Buffer,
): { decoder: Transform; encoder: Transform & { flush(kind: number): void }; flushKind: number } {
  switch (encoding) {
    case 'gzip':
      return {
        decoder: createGunzip(),
        encoder: createGzip({ level: GZIP_LEVEL }),
        flushKind: constants.Z_SYNC_FLUSH,
      };
    case 'deflate':
      return {
        decoder: isZlibWrapped(firstBytes) ? createInflate() : createInflateRaw(),
        encoder: createDeflate({ level: GZIP_LEVEL }), // always the zlib-wrapped form, as RFC 9110 means it
        flushKind: constants.Z_SYNC_FLUSH,
      };
    case 'br':
      return {
        decoder: createBrotliDecompress(),
        encoder: createBrotliCompress({
          params: {
            [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
            [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
          },
        }),
        flushKind: constants.BROTLI_OPERATION_FLUSH,
      };
  }
}

/** The stages a body goes through: written into `head`, read out of `tail`. */
interface Stages {
  readonly head: Transform;
  readonly tail: Readable;
  readonly all: readonly Transform[];
}

/**
 * The whole rewrite as one stream: decoder, injector, encoder, built once the
 * first bytes are in (a deflate body's first two bytes say which decoder), so
 * an empty body gives an empty body. Backpressure flows through; any stage's
 * error destroys this stream with it. After each burst of input the encoder
 * is flushed, so a page streamed in parts (server rendering with suspense)
 * reaches the browser in parts rather than when the upstream is done.
 */
class ClientInjectionStream extends Duplex {
  readonly #encoding: InjectionEncoding;
  readonly #tag: string;
  #stages: Stages | undefined;
  #firstChunks: Buffer[] = [];
  #firstLength = 0;
  #flushTimer: NodeJS.Immediate | undefined;

  constructor(encoding: InjectionEncoding, tag: string) {
    super();
    this.#encoding = encoding;
    this.#tag = tag;
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.#stages !== undefined) {
      this.#writeToStages(this.#stages, chunk, callback);
      return;
    }
    this.#firstChunks.push(chunk);
    this.#firstLength += chunk.length;
    if (this.#firstLength < (this.#encoding === 'deflate' ? 2 : 1)) {
      callback();
      return;
    }
    this.#writeToStages(this.#buildStages(), Buffer.concat(this.#firstChunks), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#stages === undefined && this.#firstLength === 0) {
      this.push(null);
      callback();
      return;
    }
    const stages = this.#stages ?? this.#buildStages();
    if (this.#firstChunks.length > 0) stages.head.write(Buffer.concat(this.#firstChunks));
    this.#firstChunks = [];
    stages.head.end(callback);
  }

  override _read(): void {
    this.#stages?.tail.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#flushTimer !== undefined) clearImmediate(this.#flushTimer);
    for (const stage of this.#stages?.all ?? []) stage.destroy();
    callback(error);
  }

  #writeToStages(stages: Stages, bytes: Buffer, callback: (error?: Error | null) => void): void {
    this.#firstChunks = [];
    if (stages.head.write(bytes)) callback();
    else stages.head.once('drain', () => callback());
  }

  #buildStages(): Stages {
    const injector = new HeadEndTagInjector(this.#tag);
    let stages: Stages;
    if (this.#encoding === 'identity') {
      stages = { head: injector, tail: injector, all: [injector] };
    } else {
      const { decoder, encoder, flushKind } = codecFor(
        this.#encoding,
        Buffer.concat(this.#firstChunks),
      );
      stages = { head: decoder, tail: encoder, all: [decoder, injector, encoder] };
      pipeline(decoder, injector, encoder, (error) => {
        if (error) this.destroy(error);
      });
      // Each 'data' from the injector is written into the encoder in the same tick; flush once that burst is over.
      injector.on('data', () => {
        this.#flushTimer ??= setImmediate(() => {
          this.#flushTimer = undefined;
          if (!encoder.writableEnded && !encoder.destroyed) encoder.flush(flushKind);
        });
      });
    }
    stages.tail.on('data', (bytes: Buffer) => {
      if (!this.push(bytes)) stages.tail.pause();
    });
    stages.tail.on('end', () => this.push(null));
    stages.tail.on('error', (error) => this.destroy(error));
    this.#stages = stages;
    return stages;
  }
}

/**
 * A stream that rewrites an HTML response body as it passes: it decodes the
 * body (`gzip`, `deflate` zlib-wrapped or raw, `br`, or `identity`), inserts
 * `tag` once, right before the first `</head>` (ASCII case-insensitive), or at
 * the end when the page has none, and encodes the result the same way. Memory
 * stays flat whatever the page's size: nothing but a few bytes that could
 * begin a split `</head>` are ever held back. A corrupt or truncated encoded
 * body surfaces as an `'error'`; destroy the response then. The caller drops
 * `Content-Length` (the body grows) and keeps `Content-Encoding`.
 *
 * Known limits of a byte-level rule: a `</head>` inside a comment or a script
 * string before the real one receives the tag instead, and an XHTML page
 * without a `</head>` ends up with the tag after its root element.
 *
 * @example
 * import { pipeline } from 'node:stream';
 * import { clientScriptTag, injectClientStream } from './client-injection.js';
 * pipeline(upstreamBody, injectClientStream('gzip', clientScriptTag({ loginUrl: '/login' })), response, onDone);
 */
export function injectClientStream(encoding: InjectionEncoding, tag: string): Duplex {
  return new ClientInjectionStream(encoding, tag);
}
