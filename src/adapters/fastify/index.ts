/**
 * `lapse/fastify`: session timeouts as a Fastify 5 plugin (an `onRequest`
 * hook and a `request.lapse` decorator).
 *
 * @example
 * import Fastify from 'fastify';
 * import { createLapse, loadPolicyFile } from 'lapse';
 * import { lapsePlugin } from 'lapse/fastify';
 * const app = Fastify();
 * await app.register(lapsePlugin, { lapse: createLapse({ policy: await loadPolicyFile('lapse.yaml') }) });
 * app.get('/api/me', async (request) => ({ subject: request.lapse.subject }));
 *
 * @packageDocumentation
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Lapse } from '../../http/lapse.js';
import type { RequestSession } from '../../http/request-session.js';
import type { EnforcementContext } from '../../policy/types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's session, set by lapse's onRequest hook. */
    lapse: RequestSession;
  }
}

/** Options of {@link lapsePlugin}. */
export interface LapsePluginOptions {
  readonly lapse: Lapse;
  /** The enforcement context per request; default: the one given to createLapse. */
  readonly context?: (request: FastifyRequest) => EnforcementContext;
}

async function plugin(fastify: FastifyInstance, options: LapsePluginOptions): Promise<void> {
  const { lapse } = options;
  fastify.decorateRequest('lapse', null as unknown as RequestSession);
  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const result = await lapse.handle(
      {
        method: request.method.toUpperCase(),
        url: request.url,
        header: (name) => {
          const value = request.headers[name];
          return Array.isArray(value) ? value.join(', ') : value;
        },
      },
      {
        set: (name, value) => {
          reply.header(name, value);
        },
        // Fastify keeps every value set for set-cookie instead of replacing it.
        append: (name, value) => {
          reply.header(name, value);
        },
      },
      options.context?.(request),
    );
    if (result.action === 'respond') {
      const { status, headers, body } = result.response;
      reply.code(status);
      for (const [name, value] of headers) reply.header(name, value);
      return reply.send(body ?? '');
    }
    request.lapse = result.session;
  });
}

// Not encapsulated: the hook guards every route of the instance it is registered on.
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'lapse',
});

/**
 * The Fastify plugin. Register it before your routes; it guards every route of
 * the instance it is registered on.
 */
export const lapsePlugin: (fastify: FastifyInstance, options: LapsePluginOptions) => Promise<void> =
  plugin;
