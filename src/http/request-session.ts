import { ErrorCodes, LapseError } from '../errors.js';
import type { EnforcementContext } from '../policy/types.js';
import type { Verdict } from '../session/authority.js';
import type {
  SessionAttrs,
  SessionChanges,
  SessionDraft,
  SessionRecord,
  SessionStatus,
} from '../session/types.js';
import type { CarriedSession } from './carriers/carrier.js';
import { clearedSessionCookie, sessionCookie } from './cookies.js';
import type { LapseSettings } from './lapse-options.js';
import { SESSION_HEADER, sessionHeaderValue } from './session-header.js';

/** Where the HTTP layer writes response headers, bound by each adapter to its response. */
export interface HeaderSink {
  /** Set a header, replacing any earlier value. */
  set(name: string, value: string): void;
  /** Add a header value, keeping earlier ones (`Set-Cookie`). */
  append(name: string, value: string): void;
}

/**
 * The session of one request, as the app sees it (`req.lapse` and friends):
 * who is signed in, how long is left, and `begin`, `end`, `rotate`, `refresh`.
 *
 * @example
 * app.post('/login', async (req, res) => {
 *   // ...the app's own password check...
 *   await req.lapse.begin({ subject: user.id, roles: user.roles });
 *   res.json({ ok: true });
 * });
 */
export class RequestSession {
  readonly #settings: LapseSettings;
  readonly #context: EnforcementContext;
  readonly #sink: HeaderSink;
  #carried: CarriedSession;
  #verdict: Verdict | undefined;

  constructor(
    settings: LapseSettings,
    context: EnforcementContext,
    carried: CarriedSession,
    verdict: Verdict | undefined,
    sink: HeaderSink,
  ) {
    this.#settings = settings;
    this.#context = context;
    this.#carried = carried;
    this.#verdict = verdict;
    this.#sink = sink;
  }

  /** Whether the request carries a live session. */
  get isActive(): boolean {
    return this.#verdict?.ok === true;
  }

  /** The check's verdict; `undefined` when nothing was checked (a public path without a session, or the store was down under `onStoreError: allow`). */
  get verdict(): Verdict | undefined {
    return this.#verdict;
  }

  #live(): { record: SessionRecord; status: SessionStatus } | undefined {
    const verdict = this.#verdict;
    return verdict?.ok === true ? verdict : undefined;
  }

  /** The signed-in subject, if the session is live. */
  get subject(): string | undefined {
    return this.#live()?.record.subject;
  }

  /** The session's roles (empty without a live session). */
  get roles(): readonly string[] {
    return this.#live()?.record.roles ?? [];
  }

  get userType(): string | undefined {
    return this.#live()?.record.userType;
  }

  get attrs(): SessionAttrs | undefined {
    return this.#live()?.record.attrs;
  }

  /** Deadlines and state as of this request's check. */
  get status(): SessionStatus | undefined {
    return this.#live()?.status;
  }

  #requireCookie(operation: string): NonNullable<LapseSettings['cookie']> {
    const cookie = this.#settings.cookie;
    if (cookie === undefined) {
      throw new LapseError(
        ErrorCodes.OPTION_INVALID,
        `${operation}() needs the cookie carrier: with jwt, sessions begin and end at the identity provider`,
      );
    }
    return cookie;
  }

  #adopt(verdict: Verdict): void {
    this.#verdict = verdict;
    if (verdict.ok) this.#sink.set(SESSION_HEADER, sessionHeaderValue(verdict.status));
  }

  /**
   * Start a session after the app's own sign-in: a fresh id in a new cookie.
   * A session the request already carried is revoked (`replaced`), never reused.
   */
  async begin(draft: SessionDraft): Promise<SessionStatus> {
    const cookie = this.#requireCookie('begin');
    const { authority } = this.#settings;
    if (this.#carried.kind === 'session-id') await authority.revoke(this.#carried.id, 'replaced');
    const begun = await authority.begin(draft, this.#context);
    this.#sink.append('Set-Cookie', sessionCookie(begun.id, cookie));
    this.#carried = { kind: 'session-id', id: begun.id };
    this.#adopt({ ok: true, status: begun.status, record: begun.record });
    return begun.status;
  }

  /** Sign out: revoke the session and clear the cookie. */
  async end(reason = 'logout'): Promise<void> {
    const { authority, cookie } = this.#settings;
    const carried = this.#carried;
    if (carried.kind === 'session-id') await authority.revoke(carried.id, reason);
    else if (carried.kind === 'token') await authority.revokeToken(carried.key, reason);
    if (cookie !== undefined) this.#sink.append('Set-Cookie', clearedSessionCookie(cookie));
    this.#carried = { kind: 'none' };
    this.#verdict = { ok: false, reason: 'revoked', retired: false };
  }

  /**
   * A new id for the same session (same deadlines) after a privilege change or
   * re-authentication; the old id is retired.
   */
  async rotate(changes: SessionChanges = {}): Promise<SessionStatus> {
    const cookie = this.#requireCookie('rotate');
    const carried = this.#carried;
    if (carried.kind !== 'session-id' || !this.isActive) {
      throw new LapseError(ErrorCodes.SESSION_REJECTED, 'rotate() needs a live session');
    }
    const rotated = await this.#settings.authority.rotate(carried.id, changes);
    if (!rotated.ok) {
      this.#verdict = { ok: false, reason: rotated.reason, retired: rotated.retired };
      throw new LapseError(
        ErrorCodes.SESSION_REJECTED,
        `the session can no longer be rotated (${rotated.reason})`,
      );
    }
    this.#sink.append('Set-Cookie', sessionCookie(rotated.id, cookie));
    this.#carried = { kind: 'session-id', id: rotated.id };
    this.#adopt(await this.#settings.authority.status(rotated.id, this.#context));
    return this.status as SessionStatus;
  }

  /** Re-read the session's standing without counting it as activity. */
  async refresh(): Promise<Verdict> {
    const { authority } = this.#settings;
    const carried = this.#carried;
    const verdict =
      carried.kind === 'session-id'
        ? await authority.status(carried.id, this.#context)
        : carried.kind === 'token'
          ? await authority.checkToken(carried.key, carried.draft, this.#context, { passive: true })
          : authority.reject(carried.kind === 'none' ? 'missing' : 'invalid', this.#context);
    this.#adopt(verdict);
    return verdict;
  }
}
