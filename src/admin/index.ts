/**
 * `lapse/admin`: metrics, the audit trail, anomaly detection (SPEC section 6)
 * and the admin listener with its API and dashboard. `lapse serve` runs them
 * all; middleware users wire the same pieces beside `createLapse()`.
 *
 * @example
 * import { createLapse } from 'lapse';
 * import { createAdminServer, observeLapse } from 'lapse/admin';
 * const lapse = createLapse({ policy, store });
 * const observability = observeLapse(lapse, { audit: { destination: './audit.log' } });
 * await createAdminServer({ observability, token: process.env.LAPSE_ADMIN_TOKEN }).listen();
 *
 * @packageDocumentation
 */

export * from '../observe/index.js';
export {
  AdminApi,
  DEFAULT_PAGE,
  MAX_PAGE,
  SESSION_STATES,
  type SessionStateFilter,
} from './admin-api.js';
export {
  AdminServer,
  type AdminServerOptions,
  createAdminServer,
  DEFAULT_ADMIN_LISTEN,
} from './admin-server.js';
export { AdminToken } from './admin-token.js';
export { DASHBOARD_CSP } from './dashboard-assets.js';
export { isLoopbackAddress, isLoopbackHostHeader } from './loopback.js';
export { type AdminSession, type AdminSessionState, adminSessionView } from './session-view.js';
