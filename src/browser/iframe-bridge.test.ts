import { describe, expect, it, vi } from 'vitest';
import { FakeEventTarget } from './fake-event-target.test-helpers.js';
import { listenToFrames, startIframeBridge } from './iframe-bridge.js';

const ORIGIN = 'https://app.example';

describe('startIframeBridge', () => {
  it("reports activity to the parent, addressed to the frame's own origin, throttled", () => {
    const document = new FakeEventTarget();
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
    const win = Object.assign(new FakeEventTarget(), { location: { origin: ORIGIN } });
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
