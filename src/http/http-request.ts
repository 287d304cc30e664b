/**
 * The one shape of a request the HTTP layer reads, whatever the framework:
 * adapters translate their request into this and nothing else.
 */
export interface HttpRequestLike {
  /** HTTP method, upper case. */
  readonly method: string;
  /** The request target as sent: path and query (`/a/b?x=1`), never a full URL. */
  readonly url: string;
  /** A header's value by lower-case name (repeated headers joined with `, `, cookies with `; `). */
  header(name: string): string | undefined;
}

/** The path part of a request target, without query or fragment. */
export function pathOf(url: string): string {
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  return path.length === 0 ? '/' : path;
}

/** Whether the request is a browser navigation (a GET that wants HTML), which gets a redirect rather than a 401. */
export function isNavigation(request: HttpRequestLike): boolean {
  if (request.method !== 'GET') return false;
  const mode = request.header('sec-fetch-mode');
  if (mode !== undefined) return mode === 'navigate';
  return (request.header('accept') ?? '').includes('text/html');
}
