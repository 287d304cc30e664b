import { describe, expect, it } from 'vitest';
import { rawRequest } from '../../test/helpers/http-client.js';
import type { Policy } from '../policy/types.js';
import { ManualClock } from '../session/clock.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLapse, type Lapse } from './lapse.js';

const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 60_000, absoluteMs: 600_000, warnMs: 10_000 },
  ceilings: {},
  rules: [],
  passive: [],
};

async function serve(lapse: Lapse) {
  const file = '../../examples/node/app.mjs';
  const module = (await import(file)) as {
    start(lapse: Lapse): Promise<{ url: string; close(): Promise<void> }>;
  };
  return module.start(lapse);
}

describe('createLapse', () => {
  it('lets requests through unverified when the store is down only under onStoreError: allow, and counts them', async () => {
    const store = new MemoryStore({ clock: new ManualClock(0), sweepIntervalMs: 0 });
    const lapse = createLapse({ policy: POLICY, store, onStoreError: 'allow' });
    const server = await serve(lapse);
    try {
      await store.close();
      const response = await rawRequest(server.url, 'GET', '/api/me', {
        cookie: `lapse_sid=${'A'.repeat(43)}`,
      });
      expect(response.status).toBe(200);
      expect(response.json()).toEqual({ roles: [] });
      expect(lapse.allowedUnverified).toBe(1);
      // The reserved endpoints never pass unverified.
      const status = await rawRequest(server.url, 'GET', '/_lapse/status', {
        cookie: `lapse_sid=${'A'.repeat(43)}`,
      });
      expect(status.status).toBe(503);
    } finally {
      await server.close();
    }
  });

  it('serves public paths without a session, checking a carried one passively', async () => {
    const clock = new ManualClock(0);
    const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
    const lapse = createLapse({ policy: POLICY, store, public: ['/api/poll'] });
    const server = await serve(lapse);
    try {
      expect((await rawRequest(server.url, 'GET', '/api/poll')).status).toBe(200);
      const { id } = await lapse.authority.begin({ subject: 'u1' });
      clock.advance(30_000);
      const poll = await rawRequest(server.url, 'GET', '/api/poll', { cookie: `lapse_sid=${id}` });
      expect(poll.headers['lapse-session']).toBe('state=active, idle=30, absolute=570, warn=10');
      clock.advance(30_000);
      // Never touched by the public path: the idle deadline stood.
      expect(
        (await rawRequest(server.url, 'GET', '/api/me', { cookie: `lapse_sid=${id}` })).status,
      ).toBe(401);
    } finally {
      await server.close();
    }
  });

  it.each([
    [{}, 'policy'],
    [{ policy: POLICY, loginUrl: 'https://evil.example/login' }, 'loginUrl'],
    [{ policy: POLICY, loginUrl: '//evil.example' }, 'loginUrl'],
    [{ policy: POLICY, onStoreError: 'maybe' }, 'onStoreError'],
    [{ policy: POLICY, public: ['api/*'] }, 'public'],
    [{ policy: POLICY, cookie: { name: 'bad name;' } }, 'cookie.name'],
  ])('refuses %j at construction, naming the option', (options, option) => {
    expect(() => createLapse(options as never)).toThrow(
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option }),
    );
  });
});
