import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeEventTarget } from './fake-event-target.test-helpers.js';

vi.mock('./lapse-warning.js', () => ({ defineLapseWarning: vi.fn() }));

const { autoStart } = await import('./auto-start.js');
const { defineLapseWarning } = await import('./lapse-warning.js');

function page(options: { existing?: boolean; hasBody?: boolean; isFrame?: boolean } = {}) {
  const appended: Array<{ tagName: string; client?: unknown }> = [];
  const existing = options.existing
    ? { tagName: 'LAPSE-WARNING', client: undefined as unknown }
    : null;
  const document = Object.assign(new FakeEventTarget(), {
    visibilityState: 'visible',
    readyState: options.hasBody === false ? 'loading' : 'complete',
    forms: [],
    body:
      options.hasBody === false
        ? null
        : { appendChild: (element: { tagName: string }) => appended.push(element) },
    querySelectorAll: () => [],
    querySelector: () => existing ?? appended[0] ?? null,
    createElement: (tagName: string) => ({ tagName: tagName.toUpperCase() }),
  });
  const parent = { postMessage: vi.fn() };
  const win = Object.assign(new FakeEventTarget(), {
    document,
    location: {
      pathname: '/',
      search: '',
      href: 'https://app.example/',
      origin: 'https://app.example',
      assign: vi.fn(),
    },
    navigator: {},
    sessionStorage: undefined,
    localStorage: undefined,
    customElements: { get: vi.fn(() => undefined) },
    lapse: undefined as unknown,
  });
  Object.assign(win, { parent: options.isFrame ? parent : win });
  return { win, document, appended, existing, parent };
}

function script(attributes: Record<string, string>) {
  return { getAttribute: (name: string) => attributes[name] ?? null } as unknown as Element;
}

const fetch = vi.fn(async () => ({ status: 200, json: async () => null }));

beforeEach(() => {
  vi.useFakeTimers();
  vi.stubGlobal('fetch', fetch);
  vi.stubGlobal('BroadcastChannel', undefined);
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
  vi.clearAllMocks();
});

describe('autoStart', () => {
  it('starts the client from the tag, as window.lapse, with one <lapse-warning> wired to it', async () => {
    const { win, appended } = page();
    const client = autoStart(
      win as unknown as Window,
      script({ 'data-login-url': '/signin', 'data-base-path': '/app' }),
    );
    expect(client).toBeDefined();
    expect(win.lapse).toBe(client);
    expect(defineLapseWarning).toHaveBeenCalledTimes(1);
    expect(appended).toEqual([{ tagName: 'LAPSE-WARNING', client }]);
    await vi.advanceTimersByTimeAsync(0);
    expect(fetch).toHaveBeenCalledWith(
      '/app/_lapse/status',
      expect.objectContaining({ method: 'GET' }),
    );
    client?.stop();
  });

  it("wires the page's own <lapse-warning> instead of adding one", () => {
    const { win, appended, existing } = page({ existing: true });
    win.customElements.get.mockReturnValue((() => {}) as never);
    const client = autoStart(win as unknown as Window, script({}));
    expect(appended).toEqual([]);
    expect(existing?.client).toBe(client);
    expect(defineLapseWarning).not.toHaveBeenCalled();
    client?.stop();
  });

  it('waits for the body when the page is still loading', () => {
    const { win, document, appended } = page({ hasBody: false });
    const client = autoStart(win as unknown as Window, null);
    expect(appended).toEqual([]);
    Object.assign(document, {
      body: { appendChild: (element: { tagName: string }) => appended.push(element) },
    });
    document.dispatch('DOMContentLoaded');
    expect(appended).toHaveLength(1);
    client?.stop();
  });

  it('does not start twice', () => {
    const { win } = page();
    const first = autoStart(win as unknown as Window, script({}));
    expect(autoStart(win as unknown as Window, script({}))).toBeUndefined();
    expect(win.lapse).toBe(first);
    first?.stop();
  });

  it('in a frame, only reports activity to the parent', () => {
    const { win, document, parent } = page({ isFrame: true });
    expect(autoStart(win as unknown as Window, script({}))).toBeUndefined();
    expect(win.lapse).toBeUndefined();
    expect(fetch).not.toHaveBeenCalled();
    document.dispatch('keydown');
    expect(parent.postMessage).toHaveBeenCalledWith({ lapse: 'activity' }, 'https://app.example');
  });
});
