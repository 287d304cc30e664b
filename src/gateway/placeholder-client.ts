/**
 * What the gateway serves at `GET /_lapse/client.js` until the browser SDK
 * (SPEC section 8) exists: a script that only polls the passive status
 * endpoint and sends the person to the login page once the session is over.
 * No activity detection, no warning, no "stay signed in": the server still
 * enforces every deadline; this only saves the person a click on a dead page.
 */

/**
 * The placeholder browser script: ES2019, no imports, one IIFE.
 *
 * Every 10 seconds, and whenever the tab becomes visible, it reads
 * `GET /_lapse/status` (passive: it never extends the session). On `200` it
 * sets `<html data-lapse-state="active|warning">` for pages to style; on
 * `401 {"error":"session_expired","reason":…}` it goes to
 * `<loginUrl>?reason=<reason>&return_to=<path and query>` (the login URL from
 * its tag's `data-login-url`), unless it is on the login page already.
 *
 * @example
 * import { PLACEHOLDER_CLIENT_SCRIPT } from './placeholder-client.js';
 * response.end(PLACEHOLDER_CLIENT_SCRIPT);
 */
export const PLACEHOLDER_CLIENT_SCRIPT = `/* lapse PLACEHOLDER client: NOT the browser SDK. It only polls GET /_lapse/status
   (a passive read that never extends the session) and goes to the login page once
   the session has expired. No activity detection, no warning, no extend. */
(function () {
  'use strict';
  var script = document.currentScript;
  var loginUrl = (script && script.getAttribute('data-login-url')) || '/login';
  var loginPath = loginUrl.split(/[?#]/)[0];
  var timer;
  var leaving = false;
  function expire(reason) {
    if (leaving || location.pathname === loginPath) return;
    leaving = true;
    clearInterval(timer);
    location.assign(loginUrl + (loginUrl.indexOf('?') < 0 ? '?' : '&') +
      'reason=' + encodeURIComponent(reason || '') +
      '&return_to=' + encodeURIComponent(location.pathname + location.search));
  }
  function check() {
    fetch('/_lapse/status', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (response.status !== 200 && response.status !== 401) return;
        return response.json().then(function (body) {
          if (!body) return;
          if (response.status === 401 && body.error === 'session_expired') expire(body.reason);
          if (response.status === 200 && (body.state === 'active' || body.state === 'warning')) {
            document.documentElement.dataset.lapseState = body.state;
          }
        });
      })
      .catch(function () {});
  }
  timer = setInterval(check, 10000);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') check();
  });
})();
`;

/** The `GET /_lapse/client.js` answer while the browser SDK is a placeholder. */
export interface PlaceholderClientResponse {
  readonly status: number;
  readonly headers: Array<readonly [string, string]>;
  readonly body: string;
}

/**
 * The response that serves {@link PLACEHOLDER_CLIENT_SCRIPT}: JavaScript,
 * revalidated on every load (`no-cache`) so the real SDK replaces it at once,
 * and never sniffed as anything else.
 *
 * @example
 * import { placeholderClientResponse } from './placeholder-client.js';
 * const { status, headers, body } = placeholderClientResponse();
 * res.writeHead(status, headers.flat()).end(body);
 */
export function placeholderClientResponse(): PlaceholderClientResponse {
  return {
    status: 200,
    headers: [
      ['Content-Type', 'text/javascript; charset=utf-8'],
      ['Cache-Control', 'no-cache'],
      ['X-Content-Type-Options', 'nosniff'],
    ],
    body: PLACEHOLDER_CLIENT_SCRIPT,
  };
}
