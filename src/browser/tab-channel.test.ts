import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createTabChannel,
  type StorageWindow,
  type TabChannel,
  type TabMessage,
} from './tab-channel.js';

/** Windows of one origin sharing one localStorage, which fires `storage` in the OTHER windows. */
function storageOrigin() {
  const data = new Map<string, string>();
  const windows: Array<{ fire: (event: Partial<StorageEvent>) => void }> = [];
  return function openWindow(): StorageWindow {
    const listeners = new Set<(event: StorageEvent) => void>();
    const self = {
      fire: (event: Partial<StorageEvent>) => {
        for (const listener of listeners) listener(event as StorageEvent);
      },
    };
    windows.push(self);
    const localStorage = {
      getItem: (key: string) => data.get(key) ?? null,
      setItem(key: string, value: string) {
        const oldValue = data.get(key) ?? null;
        data.set(key, value);
        for (const other of windows)
          if (other !== self && oldValue !== value) other.fire({ key, newValue: value, oldValue });
      },
      removeItem(key: string) {
        data.delete(key);
        for (const other of windows) if (other !== self) other.fire({ key, newValue: null });
      },
    } as unknown as Storage;
    return {
      localStorage,
      addEventListener: (_type: string, listener: (event: StorageEvent) => void) =>
        listeners.add(listener),
      removeEventListener: (_type: string, listener: (event: StorageEvent) => void) =>
        listeners.delete(listener),
    } as unknown as StorageWindow;
  };
}

const opened: TabChannel[] = [];
afterEach(() => {
  for (const channel of opened.splice(0)) channel.close();
});

const STATUS: TabMessage = {
  type: 'status',
  status: {
    state: 'active',
    now: 1,
    idleExpiresAt: 2,
    absoluteExpiresAt: 3,
    warnAt: 1,
    policy: { idle: 1, absolute: 2, warn: 1 },
  },
  skewMs: 5,
};

describe('createTabChannel over BroadcastChannel', () => {
  it('delivers to the other tabs, not back to the sender', async () => {
    const name = `lapse-test-${Math.random()}`;
    const a = createTabChannel(undefined, name);
    const b = createTabChannel(undefined, name);
    opened.push(a, b);
    const toA = vi.fn();
    const toB = vi.fn();
    a.listen(toA);
    b.listen(toB);
    a.post(STATUS);
    await vi.waitFor(() => expect(toB).toHaveBeenCalledWith(STATUS));
    expect(toA).not.toHaveBeenCalled();
  });
});

describe('createTabChannel over localStorage', () => {
  it('delivers through storage events, even the same message twice', () => {
    const openWindow = storageOrigin();
    const a = createTabChannel(openWindow(), 'lapse', null);
    const b = createTabChannel(openWindow(), 'lapse', null);
    const toA = vi.fn();
    const toB = vi.fn();
    a.listen(toA);
    b.listen(toB);
    a.post({ type: 'signed-out' });
    a.post({ type: 'signed-out' });
    expect(toB).toHaveBeenCalledTimes(2);
    expect(toB).toHaveBeenCalledWith({ type: 'signed-out' });
    expect(toA).not.toHaveBeenCalled();
  });

  it('ignores other keys, removals and unreadable values', () => {
    const add = vi.fn();
    const channel = createTabChannel(
      { addEventListener: add, removeEventListener: vi.fn() } as unknown as StorageWindow,
      'lapse',
      null,
    );
    const listener = vi.fn();
    channel.listen(listener);
    const onStorage = add.mock.calls[0]?.[1] as (event: Partial<StorageEvent>) => void;
    onStorage({ key: 'other', newValue: '[{"type":"signed-out"}]' });
    onStorage({ key: 'lapse', newValue: null });
    onStorage({ key: 'lapse', newValue: '{not json' });
    expect(listener).not.toHaveBeenCalled();
    onStorage({ key: 'lapse', newValue: '[{"type":"signed-out"},0.5]' });
    expect(listener).toHaveBeenCalledWith({ type: 'signed-out' });
  });

  it('stops listening when closed', () => {
    const openWindow = storageOrigin();
    const a = createTabChannel(openWindow(), 'lapse', null);
    const b = createTabChannel(openWindow(), 'lapse', null);
    const toB = vi.fn();
    b.listen(toB);
    b.close();
    a.post({ type: 'signed-out' });
    expect(toB).not.toHaveBeenCalled();
  });

  it('does not throw when storage refuses the write', () => {
    const win = {
      localStorage: {
        setItem() {
          throw new Error('QuotaExceededError');
        },
      },
      addEventListener() {},
      removeEventListener() {},
    } as unknown as StorageWindow;
    expect(() => createTabChannel(win, 'lapse', null).post({ type: 'signed-out' })).not.toThrow();
  });
});
