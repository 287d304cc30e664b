/**
 * `lapse/hono`: session timeouts as Hono middleware (web-standard Request/Response).
 *
 * @example
 * import { Hono } from 'hono';
 * import { createLapse, loadPolicyFile } from 'lapse';
 * import { lapseHono, type LapseVariables } from 'lapse/hono';
 * const app = new Hono<{ Variables: LapseVariables }>();
 * app.use(lapseHono(createLapse({ policy: await loadPolicyFile('lapse.yaml') })));
 * app.get('/api/me', (c) => c.json({ subject: c.get('lapse').subject }));
 *
 * @packageDocumentation
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Lapse } from '../../http/lapse.js';
import type { RequestSession } from '../../http/request-session.js';
import type { EnforcementContext } from '../../policy/types.js';

/** Context variables the middleware sets: `c.get('lapse')`. */
export interface LapseVariables {
  lapse: RequestSession;
}

/** Options of {@link lapseHono}. */
export interface LapseHonoOptions {
  /** The enforcement context per request; default: the one given to createLapse. */
  readonly context?: (c: Context) => EnforcementContext;
}

/**
 * Hono middleware: checks every request's session, answers `/_lapse/`
 * endpoints, rejects dead sessions, and sets `c.get('lapse')`.
 */
export function lapseHono(
  lapse: Lapse,
  options: LapseHonoOptions = {},
): MiddlewareHandler<{ Variables: LapseVariables }> {
  return async (c, next) => {
    const url = new URL(c.req.url);
    // Headers the session writes (Lapse-Session, Set-Cookie) land on whatever response the route returns.
    const pending: Array<readonly [name: string, value: string, append: boolean]> = [];
    const result = await lapse.handle(
      {
        method: c.req.method.toUpperCase(),
        url: url.pathname + url.search,
        header: (name) => c.req.header(name),
      },
      {
        set: (name, value) => {
          pending.push([name, value, false]);
        },
        append: (name, value) => {
          pending.push([name, value, true]);
        },
      },
      options.context?.(c),
    );
    if (result.action === 'respond') {
      const { status, headers, body } = result.response;
      const response = new Response(body ?? null, { status });
      for (const [name, value] of headers) response.headers.append(name, value);
      return response;
    }
    c.set('lapse', result.session);
    await next();
    for (const [name, value, append] of pending) c.header(name, value, { append });
  };
}
