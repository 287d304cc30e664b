import { describe, expect, it } from 'vitest';
import { skewFromRoundTrip, toLocalTime, toServerTime } from './server-clock.js';

describe('skewFromRoundTrip', () => {
  it('reads the server clock as taken at the midpoint of the round trip', () => {
    // Sent at 1000 local, received at 1200 local; the server said 121_100 (2 min ahead).
    expect(skewFromRoundTrip(121_100, 1200, 200)).toBe(120_000);
  });

  it('is negative when the server is behind', () => {
    expect(skewFromRoundTrip(1000 - 120_000 + 50, 1100, 100)).toBe(-120_000);
  });

  it('ignores a negative round trip (a clock that went backwards)', () => {
    expect(skewFromRoundTrip(5000, 1000, -300)).toBe(4000);
  });
});

describe('toServerTime and toLocalTime', () => {
  it('convert both ways', () => {
    expect(toServerTime(1000, 120_000)).toBe(121_000);
    expect(toLocalTime(121_000, 120_000)).toBe(1000);
    expect(toLocalTime(toServerTime(42, -7), -7)).toBe(42);
  });
});
