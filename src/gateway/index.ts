/**
 * `lapse/gateway`: the enforcement point in front of any app (`lapse serve`),
 * usable from code too: its config loader, the gateway itself, and the
 * identity headers an app behind it speaks.
 *
 * @example
 * import { createGateway, loadGatewayConfigFile } from 'lapse/gateway';
 * const gateway = await createGateway({ config: await loadGatewayConfigFile('lapse.yaml') });
 * console.log(`open ${await gateway.listen()}`);
 *
 * @packageDocumentation
 */

export { CLIENT_SCRIPT_PATH } from './client-injection.js';
export * from './config/index.js';
export { createGateway, DEFAULT_DRAIN_MS, Gateway, type GatewayOptions } from './gateway.js';
export { createGatewayLogger, LOG_LEVELS, type LogLevel, silentLogger } from './gateway-logger.js';
export {
  formatIdentityHeader,
  IdentityHeaderError,
  isEndHeader,
  parseIdentityHeader,
} from './identity-header.js';
export {
  PolicyReloader,
  type PolicyReloaderOptions,
  type ReloadResult,
  type ReloadTrigger,
} from './policy-reloader.js';
export { type ServeOptions, type Serving, serve } from './serve.js';
