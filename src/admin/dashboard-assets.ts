import { readFileSync } from 'node:fs';
import type { HttpResponseSpec } from '../http/rejection.js';

/**
 * The dashboard's CSP: its own script and style only, API calls to itself,
 * nothing from anywhere else, never framed.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The dashboard's files by request path, with their content types. */
const FILES: ReadonlyMap<string, { readonly file: string; readonly type: string }> = new Map([
  ['/', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['/dashboard.js', { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' }],
  ['/dashboard.css', { file: 'dashboard.css', type: 'text/css; charset=utf-8' }],
]);

/**
 * The dashboard's static files (`src/admin/dashboard/`, copied beside the
 * built module by `npm run build`), read once. They hold no data: every
 * number on the page comes from the API, behind the token.
 */
export class DashboardAssets {
  readonly #responses = new Map<string, HttpResponseSpec>();

  constructor(directory: URL = new URL('./dashboard/', import.meta.url)) {
    for (const [path, { file, type }] of FILES) {
      let body: string;
      try {
        body = readFileSync(new URL(file, directory), 'utf8');
      } catch {
        body = '';
      }
      this.#responses.set(
        path,
        body.length === 0
          ? {
              status: 500,
              headers: [['Content-Type', 'text/plain; charset=utf-8']],
              body: `the dashboard's ${file} is missing: run npm run build\n`,
            }
          : {
              status: 200,
              headers: [
                ['Content-Type', type],
                ['Cache-Control', 'no-cache'],
                ...(file === 'index.html'
                  ? ([['Content-Security-Policy', DASHBOARD_CSP]] as const)
                  : []),
              ],
              body,
            },
      );
    }
  }

  /** Whether `path` is one of the dashboard's files. */
  has(path: string): boolean {
    return this.#responses.has(path);
  }

  /** The response for one of the dashboard's files, or `undefined`. */
  response(path: string): HttpResponseSpec | undefined {
    return this.#responses.get(path);
  }
}
