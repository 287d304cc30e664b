/**
 * lapse: session timeouts from one policy, enforced everywhere.
 *
 * The core entry point: policy loading and resolution, the session authority
 * and its pure decisions, the store interface and the in-memory store.
 *
 * @example
 * import { MemoryStore, SessionAuthority, loadPolicyFile } from 'lapse';
 * const authority = new SessionAuthority({ policy: await loadPolicyFile('lapse.yaml'), store: new MemoryStore() });
 *
 * @packageDocumentation
 */

export * from './errors.js';
export type { CarriedSession, SessionCarrier } from './http/carriers/carrier.js';
export { CookieCarrier } from './http/carriers/cookie-carrier.js';
export { JwtCarrier, type JwtCarrierOptions } from './http/carriers/jwt-carrier.js';
export { type HttpRequestLike, isNavigation, pathOf } from './http/http-request.js';
export { createLapse, type HandleResult, Lapse, RESERVED_PREFIX } from './http/lapse.js';
export type { LapseOptions } from './http/lapse-options.js';
export { type HttpResponseSpec, rejectionResponse, safeReturnTo } from './http/rejection.js';
export { type HeaderSink, RequestSession } from './http/request-session.js';
export { isSameOriginStateChange } from './http/same-origin.js';
export { SESSION_HEADER, sessionHeaderValue, statusBody } from './http/session-header.js';
export { CompiledPolicy, ContextPolicy } from './policy/compiled-policy.js';
export {
  DURATION_PATTERN,
  DurationError,
  formatDuration,
  parseDuration,
  parseIdleDuration,
} from './policy/duration.js';
export { policyJsonSchema } from './policy/json-schema.js';
export { loadPolicy } from './policy/load-policy.js';
export { loadPolicyFile } from './policy/load-policy-file.js';
export { compilePassive, type PassivePredicate, type RequestProbe } from './policy/passive.js';
export {
  formatPolicyIssue,
  type PolicyIssue,
  PolicyLoadError,
} from './policy/policy-load-error.js';
export { COMPLIANCE_PRESETS } from './policy/presets.js';
export { DEFAULTS_SOURCE, resolvePolicy } from './policy/resolve.js';
export type * from './policy/types.js';
export {
  type BegunSession,
  type RevokeOutcome,
  type RotateOutcome,
  SessionAuthority,
  type SessionAuthorityOptions,
  type Verdict,
} from './session/authority.js';
export { type Clock, ManualClock, systemClock } from './session/clock.js';
export {
  type AccessDecision,
  type AccessMode,
  createRecord,
  type Deadlines,
  deadlinesFor,
  decideAccess,
  decideRevoke,
  decideRotate,
  type EndDecision,
  expireIfDue,
  expiryAt,
  nextDeadline,
  type PolicyResolver,
  type RotateDecision,
  statusAt,
  successorOf,
} from './session/decide.js';
export type { AuthorityEvents, AuthorityEventType, AuthorityListener } from './session/events.js';
export { generateSessionId, hashSessionId, isWellFormedSessionId } from './session/session-id.js';
export type * from './session/types.js';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store.js';
export type * from './store/session-store.js';
