import { createContext, Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { PLACEHOLDER_CLIENT_SCRIPT, placeholderClientResponse } from './placeholder-client.js';

interface StatusAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * A page just big enough for the placeholder: its script tag, `fetch`,
 * `location`, one interval and `visibilitychange`. Everything the script does
 * to the page is recorded.
 */
function fakePage(options: { path: string; search?: string; loginUrl?: string | null }) {
  const answers: StatusAnswer[] = [];
  const requests: { url: string; init: unknown }[] = [];
  const navigations: string[] = [];
  const intervals: { callback: () => void; delayMs: number; isCleared: boolean }[] = [];
  const listeners = new Map<string, () => void>();
  const dataset: Record<string, string> = {};
  const document = {
    visibilityState: 'visible',
    currentScript: {
      getAttribute: (name: string) =>
        name === 'data-login-url' ? (options.loginUrl ?? null) : null,
    },
    documentElement: { dataset },
    addEventListener: (type: string, listener: () => void) => listeners.set(type, listener),
  };
  const context = createContext({
    document,
    location: {
      pathname: options.path,
      search: options.search ?? '',
      assign: (url: string) => navigations.push(url),
    },
    fetch: (url: string, init: unknown) => {
      requests.push({ url, init });
      const answer = answers.shift() ?? { status: 500, body: null };
      return Promise.resolve({ status: answer.status, json: () => Promise.resolve(answer.body) });
    },
    setInterval: (callback: () => void, delayMs: number) => {
      const interval = { callback, delayMs, isCleared: false };
      intervals.push(interval);
      return interval;
    },
    clearInterval: (interval: { isCleared: boolean }) => {
      interval.isCleared = true;
    },
  });
  new Script(PLACEHOLDER_CLIENT_SCRIPT).runInContext(context);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return {
    answers,
    requests,
    navigations,
    intervals,
    dataset,
    /** Fires the polling interval once and lets the fetch settle. */
    async tick(answer: StatusAnswer) {
      answers.push(answer);
      intervals[0]?.callback();
      await settle();
    },
    async becomeVisible(answer: StatusAnswer) {
      answers.push(answer);
      listeners.get('visibilitychange')?.();
      await settle();
    },
  };
}

const expired = (reason: string): StatusAnswer => ({
  status: 401,
  body: { error: 'session_expired', reason },
});
const alive = (state: string): StatusAnswer => ({ status: 200, body: { state, now: 0 } });

describe('PLACEHOLDER_CLIENT_SCRIPT', () => {
  it('is JavaScript, under 2 KB, and says it is a placeholder', () => {
    expect(() => new Script(PLACEHOLDER_CLIENT_SCRIPT)).not.toThrow();
    expect(Buffer.byteLength(PLACEHOLDER_CLIENT_SCRIPT)).toBeLessThan(2048);
    expect(PLACEHOLDER_CLIENT_SCRIPT.trimStart().startsWith('/* lapse PLACEHOLDER client')).toBe(
      true,
    );
    expect(PLACEHOLDER_CLIENT_SCRIPT).not.toMatch(/\bimport\b|\bexport\b/);
  });

  it('polls the passive status endpoint every 10 seconds, same-origin, asking for JSON', async () => {
    const page = fakePage({ path: '/app', loginUrl: '/login' });
    expect(page.intervals).toHaveLength(1);
    expect(page.intervals[0]?.delayMs).toBe(10_000);
    expect(page.requests).toHaveLength(0);
    await page.tick(alive('active'));
    expect(page.requests).toEqual([
      {
        url: '/_lapse/status',
        init: { credentials: 'same-origin', headers: { Accept: 'application/json' } },
      },
    ]);
  });

  it('goes to the login page with the reason and where to return on a 401', async () => {
    const page = fakePage({ path: '/reports/q3', search: '?tab=a b&x=1', loginUrl: '/login' });
    await page.tick(expired('idle'));
    expect(page.navigations).toEqual([
      `/login?reason=idle&return_to=${encodeURIComponent('/reports/q3?tab=a b&x=1')}`,
    ]);
    expect(page.intervals[0]?.isCleared).toBe(true);
  });

  it('adds to a login URL that has a query already, and goes only once', async () => {
    const page = fakePage({ path: '/app', loginUrl: '/auth?app=crm' });
    await page.tick(expired('absolute'));
    await page.becomeVisible(expired('absolute'));
    expect(page.navigations).toEqual(['/auth?app=crm&reason=absolute&return_to=%2Fapp']);
  });

  it('stays on the login page itself', async () => {
    const page = fakePage({ path: '/login', search: '?reason=idle', loginUrl: '/login' });
    await page.tick(expired('missing'));
    expect(page.navigations).toEqual([]);
  });

  it('ignores a 401 that is not a session expiry, and other statuses', async () => {
    const page = fakePage({ path: '/app', loginUrl: '/login' });
    await page.tick({ status: 401, body: { error: 'something_else' } });
    await page.tick({ status: 503, body: { error: 'session_store_unavailable' } });
    await page.tick({ status: 401, body: null });
    expect(page.navigations).toEqual([]);
    expect(page.dataset).toEqual({});
  });

  it('sets data-lapse-state on the page from a 200', async () => {
    const page = fakePage({ path: '/app', loginUrl: '/login' });
    await page.tick(alive('active'));
    expect(page.dataset.lapseState).toBe('active');
    await page.tick(alive('warning'));
    expect(page.dataset.lapseState).toBe('warning');
    await page.tick(alive('<img onerror=x>'));
    expect(page.dataset.lapseState).toBe('warning');
    expect(page.navigations).toEqual([]);
  });

  it('checks again when the tab becomes visible', async () => {
    const page = fakePage({ path: '/app', loginUrl: '/login' });
    await page.becomeVisible(expired('revoked'));
    expect(page.navigations).toEqual(['/login?reason=revoked&return_to=%2Fapp']);
  });
});

describe('placeholderClientResponse', () => {
  it('serves the script as uncached, unsniffable JavaScript', () => {
    expect(placeholderClientResponse()).toEqual({
      status: 200,
      headers: [
        ['Content-Type', 'text/javascript; charset=utf-8'],
        ['Cache-Control', 'no-cache'],
        ['X-Content-Type-Options', 'nosniff'],
      ],
      body: PLACEHOLDER_CLIENT_SCRIPT,
    });
  });
});
