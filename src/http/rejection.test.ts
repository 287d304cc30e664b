import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HttpRequestLike } from './http-request.js';
import { rejectionResponse, safeReturnTo } from './rejection.js';

function request(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): HttpRequestLike {
  return { method, url, header: (name) => headers[name] };
}

describe('safeReturnTo', () => {
  it('keeps same-origin paths with their query', () => {
    expect(safeReturnTo('/reports?q=1')).toBe('/reports?q=1');
  });

  it.each([
    '//evil.example',
    '/\\evil.example',
    'https://evil.example/',
    'javascript:alert(1)',
    '/a\u0000b',
    '',
  ])('drops %j', (url) => {
    expect(safeReturnTo(url)).toBeUndefined();
  });

  it('never returns anything a browser would resolve to another origin', () => {
    const origin = 'https://app.example';
    const tricky = fc.constantFrom(
      '/',
      '\\',
      '//',
      '/\\',
      '\t',
      '\n',
      '@',
      ':',
      '.',
      'evil.example',
      '%2f',
      '?',
      '#',
    );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(tricky, fc.string({ maxLength: 4 })), { maxLength: 8 }),
        (parts) => {
          const candidate = parts.join('');
          const kept = safeReturnTo(candidate);
          if (kept !== undefined) expect(new URL(kept, `${origin}/start`).origin).toBe(origin);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

describe('rejectionResponse', () => {
  it('answers an API request with 401, WWW-Authenticate and a JSON body', () => {
    const response = rejectionResponse(
      'idle',
      request('/api/me', { accept: 'application/json' }),
      '/login',
    );
    expect(response.status).toBe(401);
    expect(response.headers).toContainEqual([
      'WWW-Authenticate',
      'Lapse error="session_expired", reason="idle"',
    ]);
    expect(JSON.parse(response.body ?? '')).toEqual({ error: 'session_expired', reason: 'idle' });
  });

  it('redirects a navigation (Sec-Fetch-Mode or Accept) to the login page', () => {
    const byMode = rejectionResponse(
      'absolute',
      request('/x', { 'sec-fetch-mode': 'navigate' }),
      '/login?next=1',
    );
    expect(byMode).toMatchObject({ status: 303 });
    expect(byMode.headers).toContainEqual([
      'Location',
      '/login?next=1&reason=absolute&return_to=%2Fx',
    ]);
    const fetchOfHtml = request('/x', { 'sec-fetch-mode': 'cors', accept: 'text/html' });
    expect(rejectionResponse('idle', fetchOfHtml, '/login').status).toBe(401);
    expect(
      rejectionResponse('idle', request('/x', { accept: 'text/html' }, 'POST'), '/login').status,
    ).toBe(401);
  });

  it('answers 401 to everything when no loginUrl is configured', () => {
    expect(rejectionResponse('idle', request('/', { accept: 'text/html' }), undefined).status).toBe(
      401,
    );
  });
});
