import { describe, expect, it, vi } from 'vitest';
import { listenToFrames, startIframeBridge } from './iframe-bridge.js';

class FakeTarget {
  visibilityState = 'visible';
  readonly listeners = new Map<string, Set<(event: Event) => void>>();
  addEventListener(type: string, listener: (event: Event) => void): void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)?.add(listener);
  }
  removeEventListener(type: string, listener: (event: Event) => void): void {
    this.listeners.get(type)?.delete(listener);
  }
  dispatch(type: string, init: object = {}): void {
    for (const listener of this.listeners.get(type) ?? [])
      listener({ type, isTrusted: true, ...init } as unknown as Event);
  }
}

const ORIGIN = 'https://app.example';

describe('startIframeBridge', () => {
  it("reports activity to the parent, addressed to the frame's own origin, throttled", () => {
    const document = new FakeTarget();
    const parent = { postMessage: vi.fn() };
    let clock = 0;
    startIframeBridge(
      { document, parent, location: { origin: ORIGIN } } as unknown as Window,
      () => clock,
    );
    document.dispatch('keydown');
    document.dispatch('pointermove');
    expect(parent.postMessage).toHaveBeenCalledTimes(1);
    expect(parent.postMessage).toHaveBeenCalledWith({ lapse: 'activity' }, ORIGIN);
    clock += 1000;
    document.dispatch('pointerdown');
    expect(parent.postMessage).toHaveBeenCalledTimes(2);
  });
});

describe('listenToFrames', () => {
  it('accepts activity only from its own origin', () => {
    const win = Object.assign(new FakeTarget(), { location: { origin: ORIGIN } });
    const onActivity = vi.fn();
    const stop = listenToFrames(win as unknown as Window, onActivity);
    win.dispatch('message', { origin: 'https://evil.example', data: { lapse: 'activity' } });
    win.dispatch('message', { origin: ORIGIN, data: { lapse: 'other' } });
    win.dispatch('message', { origin: ORIGIN, data: null });
    expect(onActivity).not.toHaveBeenCalled();
    win.dispatch('message', { origin: ORIGIN, data: { lapse: 'activity' } });
    expect(onActivity).toHaveBeenCalledTimes(1);
    stop();
    win.dispatch('message', { origin: ORIGIN, data: { lapse: 'activity' } });
    expect(onActivity).toHaveBeenCalledTimes(1);
  });
});
