import { describe, expect, it } from 'vitest';
import { BoundedMap } from './bounded-map.js';

describe('BoundedMap', () => {
  it('forgets the least recently used entry when full', () => {
    const map = new BoundedMap<string, number>(3);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    expect(map.get('a')).toBe(1); // a is now the most recently used
    map.set('d', 4);
    expect(map.size).toBe(3);
    expect(map.has('b')).toBe(false);
    expect([map.get('a'), map.get('c'), map.get('d')]).toEqual([1, 3, 4]);
  });

  it('refreshes a key on set without growing', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 10);
    map.set('c', 3);
    expect(map.has('b')).toBe(false);
    expect(map.get('a')).toBe(10);
    expect(map.delete('a')).toBe(true);
    expect(map.size).toBe(1);
  });

  it('never holds more than its capacity', () => {
    const map = new BoundedMap<number, number>(100);
    for (let i = 0; i < 10_000; i += 1) map.set(i, i);
    expect(map.size).toBe(100);
    expect(map.has(9_899)).toBe(false);
    expect(map.has(9_900)).toBe(true);
  });

  it('refuses a capacity that is not a whole number >= 1, naming the option', () => {
    expect(() => new BoundedMap(0, 'maxTracked')).toThrow(
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option: 'maxTracked' }),
    );
    expect(() => new BoundedMap(2.5)).toThrow(expect.objectContaining({ option: 'capacity' }));
  });
});
