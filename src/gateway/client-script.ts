import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
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
  return { isBundle, body, gzipped: gzipSync(body, { level: 9 }), etag };
}

/**
 * The answer to `GET /_lapse/client.js`: gzip when the client takes it, a
 * strong ETag so browsers revalidate cheaply (`no-cache`: always revalidate,
 * so a new SDK reaches every page at once).
 */
export function clientScriptResponse(
  script: ClientScript,
  acceptEncoding: string | undefined,
  ifNoneMatch: string | undefined,
): { readonly spec: HttpResponseSpec; readonly body: Buffer | undefined } {
  const headers: Array<readonly [string, string]> = [
    ['Content-Type', 'text/javascript; charset=utf-8'],
    ['Cache-Control', 'no-cache'],
    ['X-Content-Type-Options', 'nosniff'],
    ['ETag', script.etag],
    ['Vary', 'Accept-Encoding'],
  ];
  if (ifNoneMatch?.split(/\s*,\s*/).includes(script.etag) === true) {
    return { spec: { status: 304, headers }, body: undefined };
  }
  const gzip = acceptEncoding !== undefined && /\bgzip\b/.test(acceptEncoding);
  const body = gzip ? script.gzipped : script.body;
  return {
    spec: {
      status: 200,
      headers: [
        ...headers,
        ...(gzip ? [['Content-Encoding', 'gzip'] as const] : []),
        ['Content-Length', String(body.length)],
      ],
    },
    body,
  };
}
