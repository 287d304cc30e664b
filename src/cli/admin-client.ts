import type { SessionStateFilter } from '../admin/admin-api.js';
import type { AdminSession } from '../admin/session-view.js';
import { ErrorCodes, LapseError, OptionError } from '../errors.js';

/** Where the admin listener listens by default (docs/admin-api.md). */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:7778';

/** How long one request may take, ms, unless the client is told otherwise. */
export const DEFAULT_ADMIN_TIMEOUT_MS = 10_000;

/** A bearer token as the admin server accepts one: visible ASCII, nothing that would break a header. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** Options of {@link AdminClient}. */
export interface AdminClientOptions {
  /** Base URL of the admin listener, e.g. `http://127.0.0.1:7778` (a path prefix is kept). */
  readonly url: string;
  /** The admin token, sent as `Authorization: Bearer <token>`; none for a loopback admin without one. */
  readonly token?: string | undefined;
  /** The fetch to use. Default: Node's global `fetch`. */
  readonly fetch?: typeof fetch;
  /** How long one request may take, ms. Default: 10,000. */
  readonly timeoutMs?: number;
}

/** The filters and paging of `GET /api/sessions`. */
export interface SessionListQuery {
  readonly subject?: string | undefined;
  readonly role?: string | undefined;
  readonly rule?: string | undefined;
  readonly state?: SessionStateFilter | undefined;
  /** Sessions per page, 1..500 (the API checks the range). Default: 50. */
  readonly limit?: number | undefined;
  /** The `next` of the page before. */
  readonly cursor?: string | undefined;
}

/** One answer of `GET /api/sessions`. */
export interface AdminSessionPage {
  /** The store's clock when the page was read: countdowns are `deadline - now`. */
  readonly now: number;
  readonly sessions: AdminSession[];
  /** The cursor of the next page, or `null` at the end. */
  readonly next: string | null;
}

/** The answer of `DELETE /api/sessions/:id`. */
export interface AdminRevokeResult {
  readonly outcome: 'revoked' | 'already-ended';
  readonly session: AdminSession;
}

/** Why an admin request failed. */
export type AdminFailure =
  /** 401: no token, or the wrong one. */
  | 'unauthorized'
  /** 403: a token-less admin refused the request (Host or Origin). */
  | 'forbidden'
  /** 400: the API refused the query; `apiMessage` says why. */
  | 'bad-request'
  /** 404: an unknown session, or no admin API at that URL. */
  | 'not-found'
  /** 503 from the API: the session store cannot be reached. */
  | 'store-unavailable'
  /** No connection: refused, reset, unknown host. */
  | 'unreachable'
  /** No answer within the timeout. */
  | 'timeout'
  /** Anything else: another status, an answer that is not the API's JSON, a cursor that repeats. */
  | 'unexpected';

/**
 * A request to the admin API failed. Branch on `failure` (and `status`): the
 * code is `LAPSE_STORE_UNAVAILABLE` for a 503, `LAPSE_ADMIN_REQUEST_FAILED` for
 * the rest. The message names the URL and never holds the token.
 */
export class AdminRequestError extends LapseError {
  readonly failure: AdminFailure;
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined;
  /** The admin base URL the request went to. */
  readonly url: string;
  /** The `message` of the API's error answer, when it gave one. */
  readonly apiMessage: string | undefined;

  constructor(
    failure: AdminFailure,
    message: string,
    details: { url: string; status?: number; apiMessage?: string; cause?: unknown },
  ) {
    super(
      failure === 'store-unavailable'
        ? ErrorCodes.STORE_UNAVAILABLE
        : ErrorCodes.ADMIN_REQUEST_FAILED,
      message,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.failure = failure;
    this.status = details.status;
    this.url = details.url;
    this.apiMessage = details.apiMessage;
  }
}

const FAILURE_BY_STATUS: Readonly<Record<number, AdminFailure>> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  503: 'store-unavailable',
};

function baseUrlOf(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new OptionError(
      'url',
      `${JSON.stringify(text)} is not a URL; expected e.g. ${DEFAULT_ADMIN_URL}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OptionError('url', `expected an http: or https: URL, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    // The credentials would be printed in every message that names the URL.
    throw new OptionError('url', 'must not hold credentials; the token goes in LAPSE_ADMIN_TOKEN');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new OptionError('url', 'expected a base URL without ?query or #fragment');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A client of the lapse admin API (docs/admin-api.md): list sessions, revoke
 * one, sign a subject out everywhere. Every failure is an
 * {@link AdminRequestError}; the token is never part of a message.
 *
 * @example
 * import { AdminClient } from './admin-client.js';
 * const admin = new AdminClient({ url: 'http://127.0.0.1:7778', token: process.env.LAPSE_ADMIN_TOKEN });
 * const { sessions, next } = await admin.listSessions({ subject: 'alice' });
 */
export class AdminClient {
  /** The base URL, without a trailing slash. */
  readonly url: string;
  /** Whether requests carry a token. */
  readonly hasToken: boolean;
  readonly #authorization: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: AdminClientOptions) {
    this.url = baseUrlOf(options.url);
    const { token } = options;
    if (token !== undefined && !VISIBLE_ASCII.test(token)) {
      // Never echo it: a bad header value would otherwise surface in fetch's error message.
      throw new OptionError(
        'token',
        'expected visible ASCII characters only (no spaces or line breaks)',
      );
    }
    this.hasToken = token !== undefined;
    this.#authorization = token === undefined ? undefined : `Bearer ${token}`;
    this.#fetch = options.fetch ?? globalThis.fetch;
    const timeoutMs = options.timeoutMs ?? DEFAULT_ADMIN_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
      throw new OptionError('timeoutMs', 'expected a whole number of milliseconds > 0');
    }
    this.#timeoutMs = timeoutMs;
  }

  /** `GET /api/sessions`: one page of sessions. */
  async listSessions(query: SessionListQuery = {}): Promise<AdminSessionPage> {
    const params = new URLSearchParams();
    for (const name of ['subject', 'role', 'rule', 'state', 'limit', 'cursor'] as const) {
      const value = query[name];
      if (value !== undefined) params.set(name, String(value));
    }
    const search = params.size === 0 ? '' : `?${params}`;
    const answer = await this.#request('GET', `/api/sessions${search}`);
    if (
      !isRecord(answer) ||
      typeof answer.now !== 'number' ||
      !Array.isArray(answer.sessions) ||
      (answer.next !== null && typeof answer.next !== 'string')
    ) {
      throw this.#unexpected('GET /api/sessions', 'an answer without now, sessions and next');
    }
    return answer as unknown as AdminSessionPage;
  }

  /**
   * Every session the query matches, following `next` page by page.
   * @throws AdminRequestError `unexpected` when the API hands back a cursor it already gave.
   */
  async listAllSessions(query: SessionListQuery = {}): Promise<AdminSessionPage> {
    const sessions: AdminSession[] = [];
    const seen = new Set<string>();
    let page = await this.listSessions(query);
    for (;;) {
      sessions.push(...page.sessions);
      if (page.next === null) return { now: page.now, sessions, next: null };
      if (seen.has(page.next)) {
        // A store that returns a cursor twice would page forever; say so rather than loop.
        throw new AdminRequestError(
          'unexpected',
          `GET /api/sessions at ${this.url} returned a next cursor it had already returned, so paging would never end`,
          { url: this.url },
        );
      }
      seen.add(page.next);
      page = await this.listSessions({ ...query, cursor: page.next });
    }
  }

  /**
   * `DELETE /api/sessions/:id`: revoke one session by its `id` (the store key
   * the list shows, not the session id itself).
   * @throws AdminRequestError `not-found` (404) when the store does not know it.
   */
  async revokeSession(id: string): Promise<AdminRevokeResult> {
    const answer = await this.#request('DELETE', `/api/sessions/${encodeURIComponent(id)}`);
    if (
      !isRecord(answer) ||
      (answer.outcome !== 'revoked' && answer.outcome !== 'already-ended') ||
      !isRecord(answer.session)
    ) {
      throw this.#unexpected('DELETE /api/sessions/:id', 'an answer without outcome and session');
    }
    return answer as unknown as AdminRevokeResult;
  }

  /**
   * `DELETE /api/subjects/:subject/sessions`: revoke every live session of a
   * subject; resolves with how many there were.
   */
  async revokeSubject(subject: string): Promise<number> {
    // URLs resolve `.` and `..` path segments (and their %2E forms) away: those
    // subjects go in the query form of the same request.
    const answer = await this.#request(
      'DELETE',
      subject === '.' || subject === '..'
        ? `/api/sessions?subject=${encodeURIComponent(subject)}`
        : `/api/subjects/${encodeURIComponent(subject)}/sessions`,
    );
    if (!isRecord(answer) || !Number.isSafeInteger(answer.revoked)) {
      throw this.#unexpected('DELETE /api/subjects/:subject/sessions', 'an answer without revoked');
    }
    return answer.revoked as number;
  }

  #unexpected(request: string, what: string, status?: number): AdminRequestError {
    return new AdminRequestError(
      'unexpected',
      `${request} at ${this.url} returned ${what}: is this a lapse admin listener?`,
      { url: this.url, ...(status === undefined ? {} : { status }) },
    );
  }

  /** Send one request and return its JSON body, or throw an {@link AdminRequestError}. */
  async #request(method: 'GET' | 'DELETE', path: string): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    const label = `${method} ${path.replace(/\?.*$/, '')}`;
    let status: number;
    let text: string;
    try {
      const response = await this.#fetch(`${this.url}${path}`, {
        method,
        headers,
        // The API never redirects; following one could carry the token elsewhere.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (
        error instanceof Error &&
        (error.name === 'TimeoutError' || error.name === 'AbortError')
      ) {
        throw new AdminRequestError(
          'timeout',
          `the admin API at ${this.url} did not answer within ${this.#timeoutMs / 1000}s`,
          { url: this.url, cause: error },
        );
      }
      const cause = error instanceof Error ? error.cause : undefined;
      const why =
        cause instanceof Error
          ? ((cause as NodeJS.ErrnoException).code ?? cause.message)
          : error instanceof Error
            ? error.message
            : String(error);
      throw new AdminRequestError(
        'unreachable',
        `cannot reach the admin API at ${this.url} (${why})`,
        {
          url: this.url,
          cause: error,
        },
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (status === 200) {
      if (body === undefined)
        throw this.#unexpected(label, '200 and a body that is not JSON', status);
      return body;
    }
    const apiMessage =
      isRecord(body) && typeof body.message === 'string' ? body.message : undefined;
    const failure = FAILURE_BY_STATUS[status];
    if (failure === undefined) {
      const code = isRecord(body) && typeof body.error === 'string' ? ` ${body.error}` : '';
      throw this.#unexpected(label, `${status}${code}`, status);
    }
    const message =
      failure === 'unauthorized'
        ? `the admin API at ${this.url} refused ${this.hasToken ? 'the token' : 'a request without a token'}`
        : failure === 'store-unavailable'
          ? `the session store behind ${this.url} is unreachable`
          : `${label} at ${this.url}: ${status}${apiMessage === undefined ? '' : ` ${apiMessage}`}`;
    throw new AdminRequestError(failure, message, {
      url: this.url,
      status,
      ...(apiMessage === undefined ? {} : { apiMessage }),
    });
  }
}
