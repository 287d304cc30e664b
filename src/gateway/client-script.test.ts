import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { chooseCoding, clientScriptResponse, loadClientScript } from './client-script.js';
import { PLACEHOLDER_CLIENT_SCRIPT } from './placeholder-client.js';

async function bundleFile(text: string): Promise<URL> {
  const dir = await mkdtemp(join(tmpdir(), 'lapse-client-'));
  const file = join(dir, 'lapse-client.js');
  await writeFile(file, text);
  return pathToFileURL(file);
}

describe('the served browser SDK', () => {
  it('serves the bundle, in brotli or gzip when the client takes it', async () => {
    const script = loadClientScript(await bundleFile('console.log("sdk")'));
    expect(script.isBundle).toBe(true);
    const plain = clientScriptResponse(script, undefined, undefined);
    expect(plain.spec.status).toBe(200);
    expect(plain.body?.toString()).toBe('console.log("sdk")');
    const br = clientScriptResponse(script, 'gzip, deflate, br', undefined);
    expect(br.spec.headers).toContainEqual(['Content-Encoding', 'br']);
    expect(brotliDecompressSync(br.body as Buffer).toString()).toBe('console.log("sdk")');
    const gzip = clientScriptResponse(script, 'br;q=0, gzip', undefined);
    expect(gzip.spec.headers).toContainEqual(['Content-Encoding', 'gzip']);
    expect(gunzipSync(gzip.body as Buffer).toString()).toBe('console.log("sdk")');
    expect(gzip.spec.headers).toContainEqual(['Content-Length', String(gzip.body?.length)]);
  });

  it('answers 304 to a matching If-None-Match and changes the ETag with the content', async () => {
    const first = loadClientScript(await bundleFile('a()'));
    const second = loadClientScript(await bundleFile('b()'));
    expect(first.etag).not.toBe(second.etag);
    const gzipTag = `${first.etag.slice(0, -1)}-gzip"`;
    const revalidated = clientScriptResponse(first, 'gzip', `"x", ${gzipTag}`);
    expect(revalidated.spec.status).toBe(304);
    expect(revalidated.spec.headers).toContainEqual(['ETag', gzipTag]);
    expect(revalidated.body).toBeUndefined();
    expect(clientScriptResponse(first, undefined, first.etag).spec.status).toBe(304);
    // Each representation has its own validator: a gzip ETag does not validate brotli.
    expect(clientScriptResponse(first, 'br', gzipTag).spec.status).toBe(200);
    expect(clientScriptResponse(first, 'gzip', second.etag).spec.status).toBe(200);
  });

  it('negotiates the coding as RFC 9110 says: q=0 refuses, * stands for the rest', () => {
    expect(chooseCoding(undefined)).toBeUndefined();
    expect(chooseCoding('')).toBeUndefined();
    expect(chooseCoding('identity')).toBeUndefined();
    expect(chooseCoding('gzip')).toBe('gzip');
    expect(chooseCoding('GZIP;Q=0.5, BR;q=0.1')).toBe('br');
    expect(chooseCoding('br;q=0')).toBeUndefined();
    expect(chooseCoding('br;q=0, gzip;q=0')).toBeUndefined();
    expect(chooseCoding('*')).toBe('br');
    expect(chooseCoding('*, br;q=0')).toBe('gzip');
    expect(chooseCoding('*;q=0, gzip')).toBe('gzip');
    expect(chooseCoding('deflate, br;q=junk')).toBeUndefined();
  });

  it('falls back to the placeholder when the bundle was not built', () => {
    const script = loadClientScript(new URL('file:///nonexistent/lapse-client.js'));
    expect(script.isBundle).toBe(false);
    expect(script.body.toString()).toBe(PLACEHOLDER_CLIENT_SCRIPT);
  });
});
