import { OptionError, StoreUnavailableError } from '../errors.js';
import { type HttpResponseSpec, jsonResponse } from '../http/rejection.js';
import type { Observability } from '../observe/observability.js';
import type { EnforcementContext } from '../policy/types.js';
import { isWellFormedIdHash } from '../session/session-id.js';
import type { SessionQuery } from '../store/session-store.js';
import { type AdminSession, adminSessionView } from './session-view.js';

/** `state` values of `GET /api/sessions`. */
export const SESSION_STATES = ['live', 'active', 'warning', 'ended', 'any'] as const;

/** One of {@link SESSION_STATES}. */
export type SessionStateFilter = (typeof SESSION_STATES)[number];

/** Default and largest `limit` of `GET /api/sessions`. */
export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 500;

/** Longest filter value accepted (a subject, a role, a rule name, an attribute). */
const MAX_FILTER_LENGTH = 512;

function one(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw new OptionError(name, 'give it once');
  const value = values[0];
  if (value === undefined || value.length === 0) return undefined;
  if (value.length > MAX_FILTER_LENGTH) {
    throw new OptionError(name, `longer than ${MAX_FILTER_LENGTH} characters`);
  }
  return value;
}

function badQuery(error: OptionError): HttpResponseSpec {
  return jsonResponse(400, {
    error: 'bad_request',
    parameter: error.option,
    message: error.message,
  });
}

/** Run a handler: a bad query is 400, an unreachable store 503, nothing else is caught. */
async function answering(run: () => Promise<HttpResponseSpec>): Promise<HttpResponseSpec> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof OptionError) return badQuery(error);
    if (error instanceof StoreUnavailableError) {
      return jsonResponse(503, {
        error: 'store_unavailable',
        message: 'the session store cannot be reached',
      });
    }
    throw error;
  }
}

/**
 * The JSON endpoints of the admin API (docs/admin-api.md), framework-neutral:
 * each takes what it needs of the request and returns the response to send.
 * Authentication is the server's job, before any of these runs.
 */
export class AdminApi {
  readonly #observability: Observability;
  readonly #context: EnforcementContext;

  constructor(observability: Observability, context: EnforcementContext = {}) {
    this.#observability = observability;
    this.#context = Object.freeze({ ...context });
  }

  get #authority() {
    return this.#observability.lapse.authority;
  }

  /** `GET /api/sessions?subject&role&rule&state&limit&cursor`. */
  sessions(query: URLSearchParams): Promise<HttpResponseSpec> {
    return answering(async () => {
      const state = (one(query, 'state') ?? 'live') as SessionStateFilter;
      if (!SESSION_STATES.includes(state)) {
        throw new OptionError('state', `expected one of ${SESSION_STATES.join(', ')}`);
      }
      const limitText = one(query, 'limit');
      const limit = limitText === undefined ? DEFAULT_PAGE : Number(limitText);
      if (
        !/^\d+$/.test(limitText ?? '1') ||
        !Number.isSafeInteger(limit) ||
        limit < 1 ||
        limit > MAX_PAGE
      ) {
        throw new OptionError('limit', `expected a whole number 1..${MAX_PAGE}`);
      }
      const subject = one(query, 'subject');
      const role = one(query, 'role');
      const rule = one(query, 'rule');
      const cursor = one(query, 'cursor');
      const storeQuery: SessionQuery = {
        // A session the policy in force has ended is still `live` in the store
        // until a request or the sweep meets it: ask for more, filter below.
        state: state === 'any' || state === 'ended' ? 'any' : 'live',
        limit,
        ...(subject === undefined ? {} : { subject }),
        ...(role === undefined ? {} : { role }),
        ...(rule === undefined ? {} : { rule }),
        ...(cursor === undefined ? {} : { cursor }),
      };
      const page = await this.#authority.store.list(storeQuery);
      const { audit } = this.#observability;
      const sessions = page.records
        .map((record) =>
          adminSessionView(
            record,
            page.now,
            this.#authority,
            audit.sessionRef(record.idHash),
            this.#context,
          ),
        )
        .filter((session) => matchesState(session.state, state));
      return jsonResponse(200, { now: page.now, sessions, next: page.next });
    });
  }

  /** `DELETE /api/sessions/:id`: revoke one session (reason `admin`). */
  revokeSession(id: string): Promise<HttpResponseSpec> {
    return answering(async () => {
      if (!isWellFormedIdHash(id)) return jsonResponse(404, { error: 'not_found' });
      const outcome = await this.#authority.revokeHash(id, 'admin');
      if (outcome.outcome === 'unknown') return jsonResponse(404, { error: 'not_found' });
      const now = await this.#authority.store.now();
      const { audit } = this.#observability;
      return jsonResponse(200, {
        outcome: outcome.outcome,
        session: adminSessionView(
          outcome.record,
          now,
          this.#authority,
          audit.sessionRef(id),
          this.#context,
        ),
      });
    });
  }

  /** `DELETE /api/subjects/:subject/sessions`: sign a subject out everywhere (reason `admin`). */
  revokeSubject(subject: string): Promise<HttpResponseSpec> {
    return answering(async () => {
      if (subject.length === 0 || subject.length > MAX_FILTER_LENGTH) {
        throw new OptionError('subject', `expected 1..${MAX_FILTER_LENGTH} characters`);
      }
      const revoked = await this.#authority.revokeSubject(subject, 'admin');
      return jsonResponse(200, { revoked });
    });
  }

  /** `GET /api/explain?roles=a,b&userType=x&environment=y&app=z`. */
  explain(query: URLSearchParams): Promise<HttpResponseSpec> {
    return answering(async () => {
      const roles = (one(query, 'roles') ?? '')
        .split(',')
        .map((role) => role.trim())
        .filter((role) => role.length > 0);
      const userType = one(query, 'userType') ?? 'human';
      const environment = one(query, 'environment');
      const app = one(query, 'app');
      const effective = this.#authority.policy.resolve(
        { roles, userType },
        {
          ...(environment === undefined ? {} : { environment }),
          ...(app === undefined ? {} : { app }),
        },
      );
      return jsonResponse(200, {
        input: { roles, userType, environment: environment ?? null, app: app ?? null },
        idle: { ms: effective.idleMs, from: effective.from.idle },
        absolute: { ms: effective.absoluteMs, from: effective.from.absolute },
        warn: { ms: effective.warnMs, from: effective.from.warn, clamped: effective.warnClamped },
        matched: effective.matched,
        message: effective.message ?? null,
      });
    });
  }

  /** `GET /api/policy`: the policy in force and when it was put in force. */
  policy(): Promise<HttpResponseSpec> {
    return answering(async () =>
      jsonResponse(200, {
        loadedAt: this.#observability.policyLoadedAt,
        policy: this.#authority.policy.policy,
      }),
    );
  }

  /** `GET /api/events?after&limit` (the JSON form; the stream is the server's). */
  events(query: URLSearchParams): Promise<HttpResponseSpec> {
    return answering(async () => {
      const after = wholeNumber(query, 'after');
      const limit = wholeNumber(query, 'limit');
      const { events, lastSeq, missed } = this.#observability.audit.recent({
        ...(after === undefined ? {} : { after }),
        ...(limit === undefined ? {} : { limit }),
      });
      return jsonResponse(200, { events, lastSeq, missed });
    });
  }

  /** `GET /api/stats`: what the dashboard's counters and chart show. */
  stats(): Promise<HttpResponseSpec> {
    return answering(async () => {
      const { census, timeline, metrics } = this.#observability;
      const [sessions, counts] = await Promise.all([census.count(), metrics.counts()]);
      return jsonResponse(200, {
        now: sessions.now,
        sessions: { active: sessions.active, warning: sessions.warning },
        ends: { bucketMs: timeline.bucketMs, buckets: timeline.buckets() },
        anomalies: counts.anomalies,
        requests: counts.requests,
        wsConnections: counts.wsConnections,
      });
    });
  }
}

function matchesState(shown: AdminSession['state'], wanted: SessionStateFilter): boolean {
  if (wanted === 'any') return true;
  if (wanted === 'live') return shown !== 'ended';
  return shown === wanted;
}

/** A whole-number query parameter (`after`, `limit`), or `undefined` when absent. */
export function wholeNumber(query: URLSearchParams, name: string): number | undefined {
  const text = one(query, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d{1,15}$/.test(text) || !Number.isSafeInteger(value)) {
    throw new OptionError(name, 'expected a whole number >= 0');
  }
  return value;
}
