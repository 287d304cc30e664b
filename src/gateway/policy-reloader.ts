import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { LapseError } from '../errors.js';
import type { Env } from './config/env-value.js';
import { GatewayConfigError } from './config/gateway-config-error.js';
import { loadGatewayConfigFile } from './config/load-gateway-config-file.js';
import { Secret } from './config/secret.js';
import type { GatewayConfig } from './config/types.js';

/** What set off a reload. */
export type ReloadTrigger = 'sighup' | 'file' | 'manual';

/** The outcome of one reload: the new config in force, or why the last good one stays. */
export type ReloadResult =
  | { readonly result: 'ok'; readonly config: GatewayConfig }
  | { readonly result: 'unchanged' }
  | { readonly result: 'rejected'; readonly error: LapseError };

/** Options of {@link PolicyReloader}. */
export interface PolicyReloaderOptions {
  /** The config file to re-read. */
  readonly file: string;
  /** Put a good config's policy in force. */
  readonly apply: (config: GatewayConfig) => void;
  readonly logger: Logger;
  /** Where `env:NAME` values come from. Default: `process.env`. */
  readonly env?: Env;
  /** Quiet time after a file event before reading, ms (editors write in bursts). Default: 150. */
  readonly debounceMs?: number;
  /** Told of every reload's outcome (metrics). */
  readonly onReload?: (result: ReloadResult, trigger: ReloadTrigger) => void;
}

const SECTIONS = ['store', 'identity', 'gateway', 'admin'] as const;

/**
 * A section as comparable text. Secrets print as `[secret]`, so they enter as
 * a digest of their value: a rotated token or a moved Redis is a change too.
 */
function fingerprint(value: unknown): string {
  const plain = (item: unknown): unknown => {
    if (item instanceof Secret) {
      return `secret:${createHash('sha256').update(item.value()).digest('hex')}`;
    }
    if (Array.isArray(item)) return item.map(plain);
    if (typeof item === 'object' && item !== null) {
      return Object.fromEntries(Object.entries(item).map(([key, entry]) => [key, plain(entry)]));
    }
    return item;
  };
  return JSON.stringify(plain(value));
}

/**
 * Reloads the policy when the file changes or the process gets `SIGHUP`. A
 * file that does not load is rejected and logged with its
 * `file:line:column` issues (never a secret); the last good policy stays in
 * force. Only the policy is reloaded: a change to `store`, `identity`,
 * `gateway` or `admin` is logged as needing a restart.
 *
 * The directory is watched rather than the file, so editors that save by
 * writing a new file and renaming it over the old one are seen too.
 */
export class PolicyReloader {
  readonly #options: PolicyReloaderOptions;
  readonly #debounceMs: number;
  #current: GatewayConfig;
  #digest: string | undefined;
  #watcher: FSWatcher | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #onSighup = () => {
    void this.reload('sighup');
  };

  constructor(current: GatewayConfig, options: PolicyReloaderOptions) {
    this.#current = current;
    this.#options = options;
    this.#debounceMs = options.debounceMs ?? 150;
  }

  /** Start watching the file and listening for `SIGHUP`. */
  async start(): Promise<void> {
    this.#digest = await this.#fileDigest();
    const name = basename(this.#options.file);
    this.#watcher = watch(dirname(this.#options.file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        void this.reload('file');
      }, this.#debounceMs);
      this.#timer.unref();
    });
    this.#watcher.on('error', (error) =>
      this.#options.logger.warn({ err: error }, 'watching the config file failed'),
    );
    process.on('SIGHUP', this.#onSighup);
  }

  /** Stop watching. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
    process.off('SIGHUP', this.#onSighup);
  }

  /** Re-read the file now; reloads run one at a time, in order. */
  reload(trigger: ReloadTrigger = 'manual'): Promise<ReloadResult> {
    const next = this.#queue.then(() => this.#reloadNow(trigger));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #fileDigest(): Promise<string | undefined> {
    try {
      return createHash('sha256')
        .update(await readFile(this.#options.file))
        .digest('hex');
    } catch {
      return undefined;
    }
  }

  async #reloadNow(trigger: ReloadTrigger): Promise<ReloadResult> {
    const { file, logger } = this.#options;
    const digest = await this.#fileDigest();
    if (trigger === 'file' && digest !== undefined && digest === this.#digest) {
      const unchanged: ReloadResult = { result: 'unchanged' };
      this.#options.onReload?.(unchanged, trigger);
      return unchanged;
    }
    let outcome: ReloadResult;
    try {
      const config = await loadGatewayConfigFile(file, this.#options.env);
      const restartNeeded = SECTIONS.filter(
        (section) => fingerprint(config[section]) !== fingerprint(this.#current[section]),
      );
      this.#options.apply(config);
      this.#current = config;
      this.#digest = digest;
      outcome = { result: 'ok', config };
      logger.info(
        { event: 'policy.reload', result: 'ok', trigger, file, rules: config.policy.rules.length },
        `policy reloaded from ${file}`,
      );
      if (restartNeeded.length > 0) {
        logger.warn(
          { event: 'config.restart-needed', sections: restartNeeded, file },
          `changes to ${restartNeeded.join(', ')} take effect after a restart; only the policy was reloaded`,
        );
      }
    } catch (error) {
      if (!(error instanceof LapseError)) throw error;
      this.#digest = digest;
      outcome = { result: 'rejected', error };
      logger.error(
        {
          event: 'policy.reload',
          result: 'rejected',
          trigger,
          file,
          code: error.code,
          issues:
            error instanceof GatewayConfigError
              ? error.issues.map(({ line, column, code, message }) => ({
                  line,
                  column,
                  code,
                  message,
                }))
              : undefined,
        },
        `policy reload rejected, the last good policy stays in force:\n${error.message}`,
      );
    }
    this.#options.onReload?.(outcome, trigger);
    return outcome;
  }
}
