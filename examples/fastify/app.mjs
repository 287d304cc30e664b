// The Fastify example: lapse as a plugin; the app keeps its own login.
import Fastify from 'fastify';
import { lapsePlugin } from 'lapse/fastify';

/** Build the app around a lapse instance (the tests pass one with a test clock). */
export async function createApp(lapse) {
  const app = Fastify({ bodyLimit: 16 * 1024 });
  await app.register(lapsePlugin, { lapse });

  app.get('/login', async (_request, reply) => {
    reply.type('text/html');
    return '<form method="post" action="/login">…your sign-in form…</form>';
  });
  app.post('/login', async (request, reply) => {
    const { subject, roles = [], userType = 'human' } = request.body ?? {};
    if (typeof subject !== 'string' || subject.length === 0) {
      reply.code(400);
      return { error: 'subject required' };
    }
    const status = await request.lapse.begin({ subject, roles, userType });
    return { ok: true, subject, absoluteExpiresAt: status.absoluteExpiresAt };
  });
  app.get('/', async (request, reply) => {
    reply.type('text/html');
    return `<h1>Hello ${request.lapse.subject}</h1>`;
  });
  app.get('/api/me', async (request) => ({
    subject: request.lapse.subject,
    roles: request.lapse.roles,
    userType: request.lapse.userType,
  }));
  app.get('/api/poll', async () => ({ notifications: [] }));
  app.post('/api/rotate', async (request) => {
    await request.lapse.rotate({ roles: request.body?.roles ?? request.lapse.roles });
    return { ok: true, roles: request.lapse.roles };
  });
  app.post('/logout', async (request) => {
    await request.lapse.end();
    return { ok: true };
  });
  return app;
}

/** Listen on `port` (0: any free port); resolves with the URL and a close function. */
export async function start(lapse, port = 0) {
  const app = await createApp(lapse);
  const url = await app.listen({ port, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}
