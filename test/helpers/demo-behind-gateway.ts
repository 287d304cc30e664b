/**
 * The `npm start` demo as the tests run it: the demo app on a free port and a
 * gateway loaded from `demo/lapse.yaml` itself, with only the addresses and
 * the store changed (a free port, the app's port, an in-memory store).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startDemoApp } from '../../demo/app.mjs';
import type { ObservabilityOptions } from '../../src/observe/observability.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { type RunningGateway, startGateway } from './gateway-harness.js';

export interface DemoBehindGateway {
  readonly url: string;
  readonly gateway: RunningGateway;
  close(): Promise<void>;
}

/** Start the demo app and its gateway; `replace` edits the demo's config text (e.g. shorter timeouts). */
export async function startDemoBehindGateway(
  options: {
    readonly tickIntervalMs?: number;
    /** The session store (a test clock in it); default: the in-memory store the config names. */
    readonly store?: SessionStore;
    readonly replace?: ReadonlyArray<[string, string]>;
    /** `env:NAME` values of the config. */
    readonly env?: Record<string, string>;
    /** Metrics, audit and anomalies (`lapse/admin`); with `admin`, the admin listener too. */
    readonly observability?: ObservabilityOptions;
    readonly admin?: boolean;
  } = {},
): Promise<DemoBehindGateway> {
  const app = await startDemoApp({ port: 0, tickIntervalMs: options.tickIntervalMs ?? 200 });
  const file = fileURLToPath(new URL('../../demo/lapse.yaml', import.meta.url));
  let yaml = await readFile(file, 'utf8');
  const replacements: ReadonlyArray<readonly [string | RegExp, string]> = [
    ['listen: 127.0.0.1:8080', 'listen: 127.0.0.1:0'],
    ['upstream: "http://127.0.0.1:3000"', `upstream: "${app.url}"`],
    [/^store: .*$/m, 'store: { type: memory }'],
    ...(options.replace ?? []),
  ];
  for (const [from, to] of replacements) {
    const next = yaml.replace(from, to);
    if (next === yaml) throw new Error(`demo/lapse.yaml no longer holds ${String(from)}`);
    yaml = next;
  }
  const gateway = await startGateway(yaml, {
    file,
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.observability === undefined ? {} : { observability: options.observability }),
    ...(options.admin === undefined ? {} : { admin: options.admin }),
  });
  return {
    url: gateway.url,
    gateway,
    close: async () => {
      await gateway.close();
      await app.close();
    },
  };
}
