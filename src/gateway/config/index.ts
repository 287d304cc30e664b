/**
 * The gateway config: the whole `lapse.yaml` (policy, `store`, `identity`,
 * `gateway`, `admin`), validated at once, every problem positioned.
 *
 * @example
 * import { loadGatewayConfigFile } from 'lapse/gateway';
 * const config = await loadGatewayConfigFile('lapse.yaml');
 *
 * @packageDocumentation
 */

export {
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_GATEWAY_LISTEN,
  DEFAULT_KEY_PREFIX,
  DEFAULT_LOGIN_URL,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_SQLITE_PATH,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  MIN_ADMIN_TOKEN_LENGTH,
  MIN_JWT_SECRET_LENGTH,
} from './config-schema.js';
export { DEFAULT_ADMIN, DEFAULT_IDENTITY, DEFAULT_STORE } from './config-sections.js';
export { ENV_PREFIX, type Env } from './env-value.js';
export { GatewayConfigError } from './gateway-config-error.js';
export { jwtCarrierOptions } from './jwt-carrier-options.js';
export {
  formatListenAddress,
  isLoopbackHost,
  type ListenAddress,
  parseListenAddress,
} from './listen-address.js';
export { loadGatewayConfig } from './load-gateway-config.js';
export { loadGatewayConfigFile } from './load-gateway-config-file.js';
export { Secret } from './secret.js';
export type * from './types.js';
