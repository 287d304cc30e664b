import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Secret } from './secret.js';

const TEXT = 'S3CR3T-do-not-print-4f9c';

describe('Secret', () => {
  it('gives its text only through value()', () => {
    expect(new Secret(TEXT).value()).toBe(TEXT);
  });

  it('prints as [secret] through String, templates, JSON and util.inspect', () => {
    const secret = new Secret(TEXT);
    const printed = [
      String(secret),
      `${secret}`,
      JSON.stringify({ secret }),
      inspect(secret),
      inspect({ nested: { secret } }, { depth: 10 }),
      inspect(secret, { showHidden: true }),
    ];
    for (const text of printed) {
      expect(text).not.toContain(TEXT);
      expect(text).toContain('[secret]');
    }
  });

  it('has no enumerable properties and is frozen', () => {
    const secret = new Secret(TEXT);
    expect(Object.keys(secret)).toEqual([]);
    expect(Object.isFrozen(secret)).toBe(true);
  });
});
