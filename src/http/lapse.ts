import { OptionError, StoreUnavailableError } from '../errors.js';
import type { EnforcementContext } from '../policy/types.js';
import type { SessionAuthority, Verdict } from '../session/authority.js';
import type { CarriedSession } from './carriers/carrier.js';
import { clearedSessionCookie } from './cookies.js';
import { type HttpRequestLike, pathOf } from './http-request.js';
import { type LapseOptions, type LapseSettings, settingsFrom } from './lapse-options.js';
import {
  type HttpResponseSpec,
  jsonResponse,
  rejectionResponse,
  storeUnavailableResponse,
} from './rejection.js';
import { type HeaderSink, RequestSession } from './request-session.js';
import { isSameOriginStateChange } from './same-origin.js';
import { SESSION_HEADER, sessionHeaderValue, statusBody } from './session-header.js';

/** The reserved path prefix: answered by lapse, never by the app or an upstream. */
export const RESERVED_PREFIX = '/_lapse/';

/** What an adapter does with a request after lapse has looked at it. */
export type HandleResult =
  /** Let the app handle it; `session` is what the app sees as the request's session. */
  | { readonly action: 'next'; readonly session: RequestSession }
  /** Send this response and stop (a rejection, a 503, or a `/_lapse/` endpoint). */
  | { readonly action: 'respond'; readonly response: HttpResponseSpec };

type CheckMode = 'touch' | 'peek' | 'extend';

/**
 * One check of a request's session, as {@link Lapse.onCheck} reports it:
 *
 * - `verdict`: the authority decided (`passive` when it did not count as
 *   activity: passive traffic, public paths, `/_lapse/status`);
 * - `unavailable`: the store could not be reached and the request was
 *   refused (503, failing closed);
 * - `unverified`: the store could not be reached and the request was let
 *   through unchecked (`onStoreError: allow`).
 *
 * `seconds` is the time the check took, store round trip included.
 */
export type CheckReport =
  | {
      readonly outcome: 'verdict';
      readonly verdict: Verdict;
      readonly passive: boolean;
      /** `touch` (a request), `peek` (passive, status) or `extend` ("stay signed in", heartbeats). */
      readonly mode: 'touch' | 'peek' | 'extend';
      readonly seconds: number;
    }
  | { readonly outcome: 'unavailable' | 'unverified'; readonly seconds: number };

/** Told of every check (see {@link Lapse.onCheck}); must not throw. */
export type CheckListener = (report: CheckReport) => void;

/**
 * Session timeouts enforced on every request of a Node app: the one
 * framework-neutral step every adapter (express, fastify, node, hono) and the
 * gateway translate to. It decides nothing itself: the session authority does.
 *
 * @example
 * import { createLapse, loadPolicyFile } from 'lapse';
 * const lapse = createLapse({ policy: await loadPolicyFile('lapse.yaml'), environment: 'production', loginUrl: '/login' });
 */
export class Lapse {
  readonly #settings: LapseSettings;
  readonly #checkListeners = new Set<CheckListener>();
  #allowedUnverified = 0;

  constructor(options: LapseOptions) {
    this.#settings = settingsFrom(options);
  }

  /** The session authority behind this enforcement point. */
  get authority(): SessionAuthority {
    return this.#settings.authority;
  }

  /** The session cookie's name; `undefined` when sessions are carried by JWT. */
  get cookieName(): string | undefined {
    return this.#settings.cookie?.name;
  }

  /** The login page browser navigations are sent to, if one is configured. */
  get loginUrl(): string | undefined {
    return this.#settings.loginUrl;
  }

  /** Requests let through unverified because the store was down under `onStoreError: allow`. */
  get allowedUnverified(): number {
    return this.#allowedUnverified;
  }

  /**
   * Be told of every check this enforcement point makes (requests, WebSocket
   * traffic through `verify`, `/_lapse/` endpoints): what metrics and anomaly
   * detection listen to. A listener that throws is reported on the console
   * and never breaks enforcement. Returns a function that stops listening.
   */
  onCheck(listener: CheckListener): () => void {
    if (typeof listener !== 'function') throw new OptionError('listener', 'pass a function');
    this.#checkListeners.add(listener);
    return () => {
      this.#checkListeners.delete(listener);
    };
  }

  /**
   * Look at one request: answer `/_lapse/` endpoints, reject a request whose
   * session is not live (401, or 303 for a browser navigation), or let it
   * through with the `Lapse-Session` header set through `sink`.
   */
  async handle(
    request: HttpRequestLike,
    sink: HeaderSink,
    context: EnforcementContext = this.#settings.context,
  ): Promise<HandleResult> {
    const path = pathOf(request.url);
    const startedAt = this.#checkListeners.size === 0 ? undefined : performance.now();
    try {
      if (path.startsWith(RESERVED_PREFIX)) return await this.#endpoint(path, request, context);
      const isPublic = this.#settings.isPublic(path);
      const passive = isPublic || this.#matchesPassive(request, path);
      const read = this.#settings.carrier.read(request);
      const carried = read instanceof Promise ? await read : read;
      if (isPublic && carried.kind === 'none') {
        return {
          action: 'next',
          session: new RequestSession(this.#settings, context, carried, undefined, sink),
        };
      }
      const mode = passive ? 'peek' : 'touch';
      const verdict = await this.#check(carried, context, mode);
      this.#reportVerdict(verdict, mode, startedAt);
      if (verdict.ok) sink.set(SESSION_HEADER, sessionHeaderValue(verdict.status));
      if (verdict.ok || isPublic) {
        return {
          action: 'next',
          session: new RequestSession(this.#settings, context, carried, verdict, sink),
        };
      }
      return {
        action: 'respond',
        response: rejectionResponse(
          verdict.reason,
          request,
          this.#settings.loginUrl,
          this.#clearCookie(carried),
        ),
      };
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      const isAllowed =
        this.#settings.onStoreError === 'allow' && !path.startsWith(RESERVED_PREFIX);
      this.#reportFailure(isAllowed ? 'unverified' : 'unavailable', startedAt);
      if (isAllowed) {
        this.#allowedUnverified += 1;
        return {
          action: 'next',
          session: new RequestSession(this.#settings, context, { kind: 'none' }, undefined, sink),
        };
      }
      return { action: 'respond', response: storeUnavailableResponse() };
    }
  }

  /**
   * Check a request's session without answering it: the step the gateway uses
   * for WebSocket traffic after the upgrade. `touch` counts as activity,
   * `peek` does not. Rejects with `StoreUnavailableError` when the store is down.
   */
  async verify(
    request: HttpRequestLike,
    mode: 'touch' | 'peek',
    context: EnforcementContext = this.#settings.context,
  ): Promise<Verdict> {
    const startedAt = this.#checkListeners.size === 0 ? undefined : performance.now();
    try {
      const read = this.#settings.carrier.read(request);
      const carried = read instanceof Promise ? await read : read;
      const verdict = await this.#check(carried, context, mode);
      this.#reportVerdict(verdict, mode, startedAt);
      return verdict;
    } catch (error) {
      if (error instanceof StoreUnavailableError) this.#reportFailure('unavailable', startedAt);
      throw error;
    }
  }

  /**
   * Whether a request is only read, never counted as activity: a public path
   * (the loginUrl, `public` globs) or traffic the policy marks `passive`.
   */
  isPassive(request: HttpRequestLike): boolean {
    const path = pathOf(request.url);
    return this.#settings.isPublic(path) || this.#matchesPassive(request, path);
  }

  #matchesPassive(request: HttpRequestLike, path: string): boolean {
    const { policy } = this.authority;
    return (
      policy.hasPassiveRules &&
      policy.isPassive({ method: request.method, path, getHeader: (name) => request.header(name) })
    );
  }

  #check(carried: CarriedSession, context: EnforcementContext, mode: CheckMode): Promise<Verdict> {
    const { authority } = this.#settings;
    switch (carried.kind) {
      case 'none':
        return Promise.resolve(authority.reject('missing', context));
      case 'malformed':
        return Promise.resolve(authority.reject('invalid', context));
      case 'session-id':
        if (mode === 'extend') return authority.extend(carried.id, context);
        return authority.check(carried.id, context, { passive: mode === 'peek' });
      case 'token':
        return authority.checkToken(carried.key, carried.draft, context, {
          passive: mode === 'peek',
          extend: mode === 'extend',
        });
    }
  }

  /** Tell the check listeners of a verdict reached since `startedAt` (a `performance.now()`). */
  #reportVerdict(verdict: Verdict, mode: CheckMode, startedAt: number | undefined): void {
    // A check that began before anyone listened is not reported: its start is unknown.
    if (startedAt === undefined || this.#checkListeners.size === 0) return;
    this.#report({
      outcome: 'verdict',
      verdict,
      passive: mode === 'peek',
      mode,
      seconds: (performance.now() - startedAt) / 1000,
    });
  }

  #reportFailure(outcome: 'unavailable' | 'unverified', startedAt: number | undefined): void {
    if (startedAt === undefined || this.#checkListeners.size === 0) return;
    this.#report({ outcome, seconds: Math.max(0, performance.now() - startedAt) / 1000 });
  }

  #report(report: CheckReport): void {
    for (const listener of this.#checkListeners) {
      try {
        listener(report);
      } catch (error) {
        console.error('lapse: a check listener failed', error);
      }
    }
  }

  /** A stale cookie goes with the rejection, so the browser stops sending it. */
  #clearCookie(carried: CarriedSession): ReadonlyArray<readonly [string, string]> {
    const { cookie } = this.#settings;
    return cookie !== undefined && carried.kind !== 'none'
      ? [['Set-Cookie', clearedSessionCookie(cookie)]]
      : [];
  }

  async #endpoint(
    path: string,
    request: HttpRequestLike,
    context: EnforcementContext,
  ): Promise<HandleResult> {
    const respond = (response: HttpResponseSpec): HandleResult => ({ action: 'respond', response });
    const endpoint = path.slice(RESERVED_PREFIX.length);
    const method = request.method;
    const allowed =
      endpoint === 'status'
        ? 'GET'
        : endpoint === 'extend' || endpoint === 'logout'
          ? 'POST'
          : undefined;
    if (allowed === undefined) return respond(jsonResponse(404, { error: 'not_found' }));
    if (method !== allowed && !(allowed === 'GET' && method === 'HEAD')) {
      return respond(jsonResponse(405, { error: 'method_not_allowed' }, [['Allow', allowed]]));
    }
    if (allowed === 'POST' && !isSameOriginStateChange(request, this.#settings.allowedOrigins)) {
      return respond(jsonResponse(403, { error: 'forbidden', reason: 'same_origin_required' }));
    }
    const carried = await this.#settings.carrier.read(request);
    if (endpoint === 'logout') {
      const { authority } = this.#settings;
      if (carried.kind === 'session-id') await authority.revoke(carried.id, 'logout');
      else if (carried.kind === 'token') await authority.revokeToken(carried.key, 'logout');
      return respond(jsonResponse(200, { ok: true }, this.#clearCookie(carried)));
    }
    const mode = endpoint === 'extend' ? 'extend' : 'peek';
    const startedAt = this.#checkListeners.size === 0 ? undefined : performance.now();
    const verdict = await this.#check(carried, context, mode);
    this.#reportVerdict(verdict, mode, startedAt);
    if (!verdict.ok) {
      return respond(
        jsonResponse(401, { error: 'session_expired', reason: verdict.reason }, [
          ['WWW-Authenticate', `Lapse error="session_expired", reason="${verdict.reason}"`],
          ...this.#clearCookie(carried),
        ]),
      );
    }
    return respond(
      jsonResponse(200, statusBody(verdict.status), [
        [SESSION_HEADER, sessionHeaderValue(verdict.status)],
      ]),
    );
  }
}

/**
 * Create the enforcement step for a Node app. Hand it to an adapter:
 * `lapse/express`, `lapse/fastify`, `lapse/node` or `lapse/hono`.
 *
 * @example
 * import { createLapse, loadPolicyFile } from 'lapse';
 * import { SqliteStore } from 'lapse/sqlite';
 * const lapse = createLapse({
 *   policy: await loadPolicyFile('lapse.yaml'),
 *   store: new SqliteStore({ path: './lapse.db' }),
 *   environment: 'production',
 *   loginUrl: '/login',
 * });
 */
export function createLapse(options: LapseOptions): Lapse {
  return new Lapse(options);
}
