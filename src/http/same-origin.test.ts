import { describe, expect, it } from 'vitest';
import type { HttpRequestLike } from './http-request.js';
import { isSameOriginStateChange } from './same-origin.js';

function request(headers: Record<string, string>): HttpRequestLike {
  const all: Record<string, string> = { host: 'app.example', ...headers };
  return { method: 'POST', url: '/_lapse/extend', header: (name) => all[name] };
}

describe('isSameOriginStateChange', () => {
  it.each([
    ['the page itself (Sec-Fetch-Site)', { 'x-lapse': '1', 'sec-fetch-site': 'same-origin' }, true],
    ['the page itself (Origin = Host)', { 'x-lapse': '1', origin: 'https://app.example' }, true],
    ['a non-browser client with the header', { 'x-lapse': '1' }, true],
    ['no X-Lapse header', { 'sec-fetch-site': 'same-origin' }, false],
    ['X-Lapse: 0', { 'x-lapse': '0', 'sec-fetch-site': 'same-origin' }, false],
    [
      'a same-site but other-origin fetch',
      { 'x-lapse': '1', 'sec-fetch-site': 'same-site' },
      false,
    ],
    ['a cross-site fetch', { 'x-lapse': '1', 'sec-fetch-site': 'cross-site' }, false],
    ['a foreign Origin', { 'x-lapse': '1', origin: 'https://evil.example' }, false],
    ['an Origin on another port', { 'x-lapse': '1', origin: 'https://app.example:8443' }, false],
    ['Origin: null', { 'x-lapse': '1', origin: 'null' }, false],
    [
      'a same-origin claim contradicted by Origin',
      { 'x-lapse': '1', 'sec-fetch-site': 'same-origin', origin: 'https://evil.example' },
      false,
    ],
  ])('%s: %s', (_label, headers, expected) => {
    expect(isSameOriginStateChange(request(headers))).toBe(expected);
  });

  it('accepts an explicitly allowed origin', () => {
    expect(
      isSameOriginStateChange(request({ 'x-lapse': '1', origin: 'https://admin.example' }), [
        'https://admin.example',
      ]),
    ).toBe(true);
  });
});
