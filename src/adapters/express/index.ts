/**
 * `lapse/express`: session timeouts as Express middleware (Express 4 and 5).
 *
 * @example
 * import express from 'express';
 * import { createLapse, loadPolicyFile } from 'lapse';
 * import { lapseMiddleware } from 'lapse/express';
 * const app = express();
 * app.use(lapseMiddleware(createLapse({ policy: await loadPolicyFile('lapse.yaml'), loginUrl: '/login' })));
 * app.get('/api/me', (req, res) => res.json({ subject: req.lapse.subject }));
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Lapse } from '../../http/lapse.js';
import type { RequestSession } from '../../http/request-session.js';
import type { EnforcementContext } from '../../policy/types.js';
import { nodeHeaderSink, nodeRequest, sendNodeResponse } from '../node/node-request.js';

declare global {
  namespace Express {
    interface Request {
      /** The request's session, set by lapse's middleware. */
      lapse: RequestSession;
    }
  }
}

/** The parts of an Express request the middleware reads (Express 4 and 5 alike). */
type ExpressRequest = IncomingMessage & { originalUrl?: string; lapse?: RequestSession };

/** Options of {@link lapseMiddleware}. */
export interface LapseMiddlewareOptions {
  /** The enforcement context per request; default: the one given to createLapse. */
  readonly context?: (req: IncomingMessage) => EnforcementContext;
}

/**
 * Express middleware: checks every request's session (passive ones without
 * counting them as activity), answers `/_lapse/` endpoints, rejects dead
 * sessions (401, or 303 to the login page), and sets `req.lapse`.
 */
export function lapseMiddleware(
  lapse: Lapse,
  options: LapseMiddlewareOptions = {},
): (req: ExpressRequest, res: ServerResponse, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    const context = options.context?.(req);
    // originalUrl: the full path even when the middleware is mounted under a prefix.
    lapse.handle(nodeRequest(req, req.originalUrl ?? req.url), nodeHeaderSink(res), context).then(
      (result) => {
        if (result.action === 'respond') {
          sendNodeResponse(res, result.response);
          return;
        }
        req.lapse = result.session;
        next();
      },
      (error: unknown) => next(error),
    );
  };
}
