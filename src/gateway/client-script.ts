import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { brotliCompressSync, gzipSync, constants as zlibConstants } from 'node:zlib';
import type { HttpResponseSpec } from '../http/rejection.js';
import { PLACEHOLDER_CLIENT_SCRIPT } from './placeholder-client.js';

/**
 * Where the bundled browser SDK lives, relative to this module: `dist/browser/`
 * of the package, both from `dist/gateway/` (the built package) and from
 * `src/gateway/` (the tests, which run the sources after a build).
 */
const BUNDLE_URL = new URL('../../dist/browser/lapse-client.js', import.meta.url);

/** The browser SDK as the gateway serves it at `/_lapse/client.js`. */
export interface ClientScript {
  /** False when the bundle was missing and the placeholder is served instead. */
  readonly isBundle: boolean;
  readonly body: Buffer;
  readonly gzipped: Buffer;
  /** The body compressed with brotli (quality 11): about 0.8 KB smaller than gzip for the SDK. */
  readonly brotli: Buffer;
  readonly etag: string;
}

/**
 * Read the bundled SDK once, at start: the built `lapse-client.js` (from
 * `npm run build`), or the status-polling placeholder when it is missing.
 */
export function loadClientScript(bundleUrl: URL = BUNDLE_URL): ClientScript {
  let body: Buffer;
  let isBundle = true;
  try {
    body = readFileSync(bundleUrl);
  } catch {
    body = Buffer.from(PLACEHOLDER_CLIENT_SCRIPT);
    isBundle = false;
  }
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  const brotli = brotliCompressSync(body, {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: 11,
      [zlibConstants.BROTLI_PARAM_SIZE_HINT]: body.length,
    },
  });
  return { isBundle, body, gzipped: gzipSync(body, { level: 9 }), brotli, etag };
}

/**
 * The answer to `GET /_lapse/client.js`: brotli or gzip when the client takes
 * it, a strong ETag per representation (`"<digest>"`, `"<digest>-br"`,
 * `"<digest>-gzip"`) so browsers and caches revalidate cheaply (`no-cache`:
 * always revalidate, so a new SDK reaches every page at once).
 */
export function clientScriptResponse(
  script: ClientScript,
  acceptEncoding: string | undefined,
  ifNoneMatch: string | undefined,
): { readonly spec: HttpResponseSpec; readonly body: Buffer | undefined } {
  const coding = chooseCoding(acceptEncoding);
  const etag = coding === undefined ? script.etag : `${script.etag.slice(0, -1)}-${coding}"`;
  const headers: Array<readonly [string, string]> = [
    ['Content-Type', 'text/javascript; charset=utf-8'],
    ['Cache-Control', 'no-cache'],
    ['X-Content-Type-Options', 'nosniff'],
    ['ETag', etag],
    ['Vary', 'Accept-Encoding'],
  ];
  if (ifNoneMatch?.split(/\s*,\s*/).includes(etag) === true) {
    return { spec: { status: 304, headers }, body: undefined };
  }
  const body = coding === 'br' ? script.brotli : coding === 'gzip' ? script.gzipped : script.body;
  return {
    spec: {
      status: 200,
      headers: [
        ...headers,
        ...(coding === undefined ? [] : [['Content-Encoding', coding] as const]),
        ['Content-Length', String(body.length)],
      ],
    },
    body,
  };
}

/**
 * The content coding to send for an `Accept-Encoding`: `br` when the client
 * takes it, else `gzip`, else none; a coding with `q=0` is refused (RFC 9110
 * section 12.5.3), `*` stands for any coding not named.
 */
export function chooseCoding(acceptEncoding: string | undefined): 'br' | 'gzip' | undefined {
  if (acceptEncoding === undefined) return undefined;
  const weights = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    if (name.length === 0) continue;
    const q = params.map((param) => param.trim()).find((param) => param.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(name, Number.isFinite(weight) ? weight : 0);
  }
  const accepts = (coding: string) => (weights.get(coding) ?? weights.get('*') ?? 0) > 0;
  if (accepts('br')) return 'br';
  if (accepts('gzip')) return 'gzip';
  return undefined;
}
