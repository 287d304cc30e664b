import { request } from 'node:http';

/** A response as the contract tests read it. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): unknown;
  /** Every Set-Cookie value. */
  cookies: string[];
}

/**
 * One HTTP request over a real socket, with the path sent exactly as given
 * (fetch would normalise `//evil.example` and backslashes away).
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { connection: 'close', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          const setCookie = res.headers['set-cookie'];
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            json: () => JSON.parse(text),
            cookies: setCookie === undefined ? [] : setCookie,
          });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** The value a Set-Cookie list gives one cookie name, if any. */
export function cookieValue(cookies: readonly string[], name: string): string | undefined {
  for (const cookie of cookies) {
    const [pair] = cookie.split(';');
    const eq = pair?.indexOf('=') ?? -1;
    if (pair !== undefined && eq !== -1 && pair.slice(0, eq) === name) return pair.slice(eq + 1);
  }
  return undefined;
}

/** Parse `Lapse-Session: state=active, idle=840, ...` into numbers and the state. */
export function parseSessionHeader(value: unknown): Record<string, string | number> {
  if (typeof value !== 'string') throw new Error(`no Lapse-Session header (got ${String(value)})`);
  const out: Record<string, string | number> = {};
  for (const part of value.split(',')) {
    const [key, raw] = part.trim().split('=');
    if (key === undefined || raw === undefined) continue;
    out[key] = /^\d+$/.test(raw) ? Number(raw) : raw;
  }
  return out;
}
