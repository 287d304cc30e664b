/** Options of {@link startDemoApp}. */
export interface DemoAppOptions {
  /** Interface to listen on. Default: `127.0.0.1`. */
  readonly host?: string;
  /** Port to listen on; `0` picks a free one. Default: `3000`. */
  readonly port?: number;
  /** How often `/ws/feed` pushes a tick, ms. Default: `2000`. */
  readonly tickIntervalMs?: number;
}

/** A running demo app. */
export interface DemoApp {
  /** Its base URL, such as `http://127.0.0.1:3000` (no trailing slash). */
  readonly url: string;
  /** The port it listens on (the real one when `0` was asked for). */
  readonly port: number;
  /** Stop listening, end open connections and WebSockets; resolves once the server is closed. */
  close(): Promise<void>;
}

/**
 * Start the demo app that runs behind the gateway in `identity.mode: upstream`. Rejects when
 * it cannot listen (`code: 'EADDRINUSE'` when the port is taken).
 *
 * @example
 * import { startDemoApp } from './demo/app.mjs';
 * const app = await startDemoApp({ port: 0 });
 * await app.close();
 */
export declare function startDemoApp(options?: DemoAppOptions): Promise<DemoApp>;
