import { describe, expect, it, vi } from 'vitest';
import { ACTIVITY_EVENTS, monitorActivity } from './activity-monitor.js';
import { FakeEventTarget } from './fake-event-target.test-helpers.js';

describe('monitorActivity', () => {
  it('reports pointer, key, wheel and touch input', () => {
    const target = new FakeEventTarget();
    let clock = 0;
    const seen: number[] = [];
    monitorActivity(
      target,
      (at) => seen.push(at),
      () => clock,
    );
    for (const type of ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart']) {
      clock += 1000;
      target.dispatch(type);
    }
    expect(seen).toEqual([1000, 2000, 3000, 4000, 5000]);
  });

  it('listens in the capture phase, passively, and not to scroll', () => {
    const target = new FakeEventTarget();
    const add = vi.spyOn(target, 'addEventListener');
    monitorActivity(target, () => {});
    expect(add.mock.calls.map((call) => call[0])).toEqual([...ACTIVITY_EVENTS]);
    for (const call of add.mock.calls) expect(call[2]).toEqual({ capture: true, passive: true });
    expect(ACTIVITY_EVENTS).not.toContain('scroll');
  });

  it('reports 1,000 events in one second once, with one clock read each', () => {
    const target = new FakeEventTarget();
    let clock = 10_000;
    const now = vi.fn(() => clock);
    const onActivity = vi.fn();
    monitorActivity(target, onActivity, now);
    for (let i = 0; i < 1000; i += 1) {
      clock += 0.5;
      target.dispatch('pointermove');
    }
    expect(onActivity).toHaveBeenCalledTimes(1);
    expect(now).toHaveBeenCalledTimes(1000);
    clock += 1000;
    target.dispatch('pointermove');
    expect(onActivity).toHaveBeenCalledTimes(2);
  });

  it('ignores events a script made up', () => {
    const target = new FakeEventTarget();
    const onActivity = vi.fn();
    monitorActivity(target, onActivity);
    target.dispatch('keydown', { isTrusted: false });
    expect(onActivity).not.toHaveBeenCalled();
  });

  it('does not count a "visible" announced to a page that was never hidden', () => {
    const target = new FakeEventTarget();
    const seen: number[] = [];
    monitorActivity(
      target,
      (at) => seen.push(at),
      () => 5000,
    );
    target.dispatch('visibilitychange');
    expect(seen).toEqual([]);
  });

  it('counts coming back to a visible tab, not leaving it', () => {
    const target = new FakeEventTarget();
    let clock = 0;
    const onActivity = vi.fn();
    monitorActivity(target, onActivity, () => clock);
    target.visibilityState = 'hidden';
    target.dispatch('visibilitychange');
    expect(onActivity).not.toHaveBeenCalled();
    clock += 5000;
    target.visibilityState = 'visible';
    target.dispatch('visibilitychange');
    expect(onActivity).toHaveBeenCalledWith(5000);
  });

  it('still reports after the clock was set backwards', () => {
    const target = new FakeEventTarget();
    let clock = 100_000;
    const onActivity = vi.fn();
    monitorActivity(target, onActivity, () => clock);
    target.dispatch('keydown');
    clock = 50_000;
    target.dispatch('keydown');
    expect(onActivity).toHaveBeenCalledTimes(2);
  });

  it('stops listening', () => {
    const target = new FakeEventTarget();
    const onActivity = vi.fn();
    const stop = monitorActivity(target, onActivity);
    stop();
    target.dispatch('keydown');
    expect(onActivity).not.toHaveBeenCalled();
    expect([...target.listeners.values()].every((set) => set.size === 0)).toBe(true);
  });
});
