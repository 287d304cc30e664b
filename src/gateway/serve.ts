import type { Logger } from 'pino';
import type { Env } from './config/env-value.js';
import { loadGatewayConfigFile } from './config/load-gateway-config-file.js';
import { createGateway, DEFAULT_DRAIN_MS, type Gateway } from './gateway.js';
import { PolicyReloader, type ReloadResult, type ReloadTrigger } from './policy-reloader.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The `lapse.yaml` to load, watch and reload. */
  readonly configFile: string;
  readonly logger: Logger;
  /** Where `env:NAME` values come from. Default: `process.env`. */
  readonly env?: Env;
  /** How long a shutdown lets requests in flight finish, ms. Default: 10 s. */
  readonly drainMs?: number;
  /** Handle SIGINT and SIGTERM with a graceful shutdown. Default: true. */
  readonly handleSignals?: boolean;
  /** Told of every policy reload (metrics, tests). */
  readonly onReload?: (result: ReloadResult, trigger: ReloadTrigger) => void;
  /** Start the admin listener of `admin.listen`. Default: true. */
  readonly admin?: boolean;
}

/** A running gateway, as `lapse serve` holds it. */
export interface Serving {
  readonly gateway: Gateway;
  readonly url: string;
  readonly reloader: PolicyReloader;
  /** Settles when the gateway has shut down. */
  readonly closed: Promise<void>;
  /** Shut down gracefully (what SIGINT and SIGTERM do). */
  close(): Promise<void>;
}

/**
 * Everything `lapse serve` does: load the config (throws `GatewayConfigError`
 * with `file:line:column` issues), open the store, listen, reload the policy
 * on SIGHUP or a changed file, and shut down gracefully on SIGINT/SIGTERM.
 *
 * @example
 * import { createGatewayLogger, serve } from 'lapse/gateway';
 * const { url } = await serve({ configFile: 'lapse.yaml', logger: createGatewayLogger() });
 */
export async function serve(options: ServeOptions): Promise<Serving> {
  const { logger } = options;
  const config = await loadGatewayConfigFile(options.configFile, options.env);
  const { audit, auditSalt } = config.admin;
  const gateway = await createGateway({
    config,
    logger,
    admin: options.admin !== false,
    observability: {
      audit: {
        destination: audit,
        ...(auditSalt === undefined ? {} : { salt: auditSalt.value() }),
      },
    },
  });
  const reloader = new PolicyReloader(config, {
    file: options.configFile,
    logger,
    apply: (next) => gateway.setPolicy(next.policy),
    ...(options.env === undefined ? {} : { env: options.env }),
    onReload: (result, trigger) => {
      gateway.observability?.recordReload(
        result.result === 'rejected'
          ? { result: 'rejected', error: { code: result.error.code } }
          : { result: result.result },
        trigger,
      );
      options.onReload?.(result, trigger);
    },
  });
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ event: 'gateway.signal', signal }, `${signal}: shutting down`);
    void close();
  };
  const close = async (drainMs = options.drainMs ?? DEFAULT_DRAIN_MS): Promise<void> => {
    reloader.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await gateway.close(drainMs);
    resolveClosed();
  };
  // Signals are taken before the gateway answers anything: a SIGHUP or
  // SIGTERM that arrives once it listens must never meet the default action.
  await reloader.start();
  if (options.handleSignals !== false) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let url: string;
  try {
    url = await gateway.listen();
  } catch (error) {
    await close(0);
    throw error;
  }
  return { gateway, url, reloader, closed, close: () => close() };
}
