// The benchmark's targets, shared by run.mjs (what to measure against what) and
// server.mjs (what to serve).

/** The JSON route every target serves. */
export const DATA_PATH = '/api/data';
/** Where the session targets sign in (POST); lapse's loginUrl, so public. */
export const LOGIN_PATH = '/login';

/**
 * In run order. `cookieName`: the target needs a signed-in session (its cookie).
 * `baseline`: the target its throughput is divided by; `target`: the least ratio the issue asks for.
 */
export const TARGETS = [
  { name: 'node', label: 'node:http (bare)' },
  {
    name: 'node-lapse',
    label: 'node:http + withLapse',
    cookieName: 'lapse_sid',
    baseline: 'node',
    target: 0.85,
  },
  { name: 'express', label: 'Express 5 (bare)' },
  {
    name: 'express-lapse',
    label: 'Express 5 + lapseMiddleware',
    cookieName: 'lapse_sid',
    baseline: 'express',
    target: 0.9,
  },
  {
    name: 'express-session',
    label: 'Express 5 + express-session (peer)',
    cookieName: 'bench_sid',
    baseline: 'express',
  },
];
