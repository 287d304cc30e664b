/**
 * Real upstreams and real gateways for the gateway tests: node:http servers on
 * 127.0.0.1:0, a gateway built from YAML text by the real config loader.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadGatewayConfig } from '../../src/gateway/config/load-gateway-config.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createGatewayLogger } from '../../src/gateway/gateway-logger.js';
import { formatIdentityHeader } from '../../src/gateway/identity-header.js';
import type { ObservabilityOptions } from '../../src/observe/observability.js';
import type { SessionStore } from '../../src/store/session-store.js';

/** What an upstream saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

/** A real upstream app. */
export interface Upstream {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Every request it received, in order. */
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** Start an upstream on 127.0.0.1:0 answering with `handler`. */
export async function startUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The app's own sign-in, as an upstream behind the gateway speaks it:
 * `POST /login?as=<subject>&role=<role>` answers with `Lapse-Begin`,
 * `POST /logout` with `Lapse-End` (`loginHeaders` go with the sign-in).
 * Returns whether it answered.
 */
export function answerSignInOut(
  req: IncomingMessage,
  res: ServerResponse,
  loginHeaders: Readonly<Record<string, string>> = {},
): boolean {
  const url = new URL(req.url ?? '/', 'http://app');
  if (req.method === 'POST' && url.pathname === '/login') {
    res.setHeader(
      'Lapse-Begin',
      formatIdentityHeader({
        subject: url.searchParams.get('as') ?? 'u1',
        roles: [url.searchParams.get('role') ?? 'user'],
        userType: 'human',
      }),
    );
    for (const [name, value] of Object.entries(loginHeaders)) res.setHeader(name, value);
    res.end('signed in');
    return true;
  }
  if (req.method === 'POST' && url.pathname === '/logout') {
    res.setHeader('Lapse-End', '?1');
    res.end('signed out');
    return true;
  }
  return false;
}

/** The policy the gateway tests use unless they give their own: one minute idle, five absolute. */
export const TEST_POLICY = `
policy:
  defaults: { idle: 60s, absolute: 300s, warn: 20s }
  rules:
    - { name: admins, match: { roles: [admin] }, idle: 30s, message: "Admins: 30 s." }
  passive:
    - { method: GET, path: "/api/poll" }
`;

/** A whole gateway `lapse.yaml` in front of one upstream. */
export function gatewayYaml(
  upstreamUrl: string,
  options: {
    readonly policy?: string;
    readonly route?: string;
    readonly gateway?: string;
    readonly identity?: string;
    readonly store?: string;
    /** Lines after the routes, e.g. an `admin:` section. */
    readonly extra?: string;
  } = {},
): string {
  return [
    'version: 1',
    (options.policy ?? TEST_POLICY).trim(),
    options.store ?? 'store: { type: memory }',
    options.identity ?? 'identity: { mode: upstream }',
    'gateway:',
    '  listen: 127.0.0.1:0',
    '  loginUrl: /login',
    '  development: true',
    ...(options.gateway === undefined ? [] : [options.gateway]),
    '  routes:',
    `    - { path: /, upstream: "${upstreamUrl}", environment: test${options.route === undefined ? '' : `, ${options.route}`} }`,
    // A port of its own for every admin listener a test starts (lapse serve starts one).
    options.extra?.includes('admin:') === true ? options.extra : 'admin: { listen: 127.0.0.1:0 }',
    ...(options.extra === undefined || options.extra.includes('admin:') ? [] : [options.extra]),
    '',
  ].join('\n');
}

/** A running gateway and its base URL. */
export interface RunningGateway {
  readonly gateway: Gateway;
  readonly url: string;
  close(): Promise<void>;
}

/** Load `yaml` with the real loader and start a gateway on 127.0.0.1:0. */
export async function startGateway(
  yaml: string,
  options: {
    readonly store?: SessionStore;
    readonly file?: string;
    readonly env?: Record<string, string>;
    readonly observability?: ObservabilityOptions;
    readonly admin?: boolean;
    /** Where the gateway's own logs go, at debug level (default: nowhere). */
    readonly logDestination?: { write(line: string): unknown };
  } = {},
): Promise<RunningGateway> {
  const config = loadGatewayConfig(yaml, options.file ?? 'test-gateway.yaml', options.env ?? {});
  const gateway = await createGateway({
    config,
    logger:
      options.logDestination === undefined
        ? createGatewayLogger({ level: process.env.LAPSE_TEST_LOG === '1' ? 'debug' : 'silent' })
        : createGatewayLogger({ level: 'debug', destination: options.logDestination }),
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.observability === undefined ? {} : { observability: options.observability }),
    ...(options.admin === undefined ? {} : { admin: options.admin }),
  });
  const url = await gateway.listen();
  return { gateway, url, close: () => gateway.close(200) };
}

/** A cookie header for a session id. */
export function sessionCookie(id: string): Record<string, string> {
  return { cookie: `lapse_sid=${id}` };
}
