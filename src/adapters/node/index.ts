/**
 * `lapse/node`: session timeouts for a plain `node:http` server.
 *
 * @example
 * import { createServer } from 'node:http';
 * import { createLapse, loadPolicyFile } from 'lapse';
 * import { withLapse } from 'lapse/node';
 * const lapse = createLapse({ policy: await loadPolicyFile('lapse.yaml'), loginUrl: '/login' });
 * createServer(withLapse(lapse, (req, res) => res.end(`hello ${req.lapse.subject}`))).listen(3000);
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Lapse } from '../../http/lapse.js';
import type { RequestSession } from '../../http/request-session.js';
import type { EnforcementContext } from '../../policy/types.js';
import {
  nodeHeaderSink,
  nodeRequest,
  sendInternalError,
  sendNodeResponse,
} from './node-request.js';

/** A node:http request that lapse has checked: `req.lapse` is its session. */
export type LapseIncomingMessage = IncomingMessage & { lapse: RequestSession };

/** Options of {@link withLapse}. */
export interface WithLapseOptions {
  /** The enforcement context per request (environment, app); default: the one given to createLapse. */
  readonly context?: (req: IncomingMessage) => EnforcementContext;
}

/**
 * Wrap a node:http handler: every request is checked (and, unless passive,
 * counted as activity) before the handler runs; rejected ones never reach it.
 */
export function withLapse(
  lapse: Lapse,
  handler: (req: LapseIncomingMessage, res: ServerResponse) => unknown,
  options: WithLapseOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const context = options.context?.(req);
    lapse.handle(nodeRequest(req), nodeHeaderSink(res), context).then(
      async (result) => {
        if (result.action === 'respond') {
          sendNodeResponse(res, result.response);
          return;
        }
        (req as LapseIncomingMessage).lapse = result.session;
        try {
          await handler(req as LapseIncomingMessage, res);
        } catch {
          sendInternalError(res);
        }
      },
      () => sendInternalError(res),
    );
  };
}

export { nodeHeaderSink, nodeRequest, sendNodeResponse } from './node-request.js';
