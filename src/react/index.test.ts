/**
 * `lapse/react` on the server (Node, no DOM). That the hook re-renders on every
 * snapshot a client emits needs a real DOM and React's client renderer, so it
 * is tested in Chromium: test/browser-warning.e2e.test.ts, "lapse/react".
 */
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it } from 'vitest';
import type { LapseClientLike, LapseSnapshot } from '../browser/types.js';
import { type LapseState, LapseWarning, useLapse } from './index.js';

function fakeClient(snapshot: Partial<LapseSnapshot> = {}) {
  const calls: string[] = [];
  let subscriptions = 0;
  const client: LapseClientLike = {
    snapshot: {
      phase: 'warning',
      remainingSeconds: 75,
      endsBy: 'idle',
      endsAt: 1_000,
      absoluteExpiresAt: 2_000,
      canExtend: true,
      ...snapshot,
    },
    subscribe() {
      subscriptions++;
      return () => {};
    },
    async extend() {
      calls.push('extend');
    },
    async signOut() {
      calls.push('signOut');
    },
  };
  return { client, calls, subscriptions: () => subscriptions };
}

/** Shows the hook's state, and hands what the hook returned to `onState`. */
function Status({
  client,
  onState,
}: {
  client: LapseClientLike | undefined;
  onState: (state: LapseState) => void;
}) {
  const state = useLapse(client);
  onState(state);
  return createElement('output', null, `${state.phase} ${state.remainingSeconds}`);
}

function renderHook(client?: LapseClientLike): { html: string; state: LapseState } {
  let state: LapseState | undefined;
  const html = renderToString(
    createElement(Status, {
      client,
      onState: (value) => {
        state = value;
      },
    }),
  );
  if (!state) throw new Error('the component did not render');
  return { html, state };
}

const global = globalThis as { lapse?: LapseClientLike };

afterEach(() => {
  delete global.lapse;
});

describe('useLapse', () => {
  it("renders the given client's snapshot on the server", () => {
    const { client } = fakeClient({ phase: 'warning', remainingSeconds: 75 });
    const { html, state } = renderHook(client);
    expect(html).toBe('<output>warning 75</output>');
    expect(state.snapshot).toBe(client.snapshot);
    expect(state.phase).toBe('warning');
    expect(state.remainingSeconds).toBe(75);
  });

  it('does not subscribe while rendering on the server (nothing to leak)', () => {
    const fake = fakeClient();
    renderHook(fake.client);
    expect(fake.subscriptions()).toBe(0);
  });

  it("extend and signOut are the client's", async () => {
    const fake = fakeClient();
    const { state } = renderHook(fake.client);
    await state.extend();
    await state.signOut();
    expect(fake.calls).toEqual(['extend', 'signOut']);
  });

  it('uses window.lapse, the auto-started client, when no client is given', () => {
    const fake = fakeClient({ phase: 'active', remainingSeconds: 840 });
    global.lapse = fake.client;
    expect(renderHook().html).toBe('<output>active 840</output>');
  });

  it('renders a starting snapshot, and extend/signOut do nothing, while there is no client', async () => {
    const { html, state } = renderHook();
    expect(html).toBe('<output>starting 0</output>');
    expect(state.snapshot.canExtend).toBe(false);
    await expect(state.extend()).resolves.toBeUndefined();
    await expect(state.signOut()).resolves.toBeUndefined();
  });
});

describe('LapseWarning', () => {
  it('renders an empty <lapse-warning> on the server without touching the DOM', () => {
    expect(typeof customElements).toBe('undefined');
    const { client } = fakeClient();
    expect(renderToString(createElement(LapseWarning, { client }))).toBe(
      '<lapse-warning></lapse-warning>',
    );
    expect(renderToString(createElement(LapseWarning, { className: 'brand', lang: 'de' }))).toBe(
      '<lapse-warning class="brand" lang="de"></lapse-warning>',
    );
  });
});
