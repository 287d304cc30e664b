/*
 * lapse admin dashboard: a plain ES module the admin listener serves as is.
 *
 * Data flow
 * - Boot: GET /api/auth says whether a token is needed. A 401 later,
 *   stops every loop and shows the token form; the token is kept in
 *   sessionStorage and sent as `Authorization: Bearer` on every API request.
 * - Polling: sessions every 2 s (as many pages as "Load more" opened), stats
 *   every 5 s (counters, chart), the policy at start and on `policy.reload`.
 * - Live feed: GET /api/events?after=<last seq, 0 at first> as server-sent
 *   events read with fetch (an EventSource cannot send Authorization). A drop
 *   reconnects after 1, 2, 5 s; a stream that never opens is replaced by
 *   polling the JSON form every 2 s. A `session.*` event refreshes the
 *   sessions at once.
 * - Time: `now` in an answer is the store's clock. We keep the latest with the
 *   browser time it arrived, so store time = now + (Date.now() - receivedAt),
 *   and countdowns tick locally every second on the server's clock.
 * - Data reaches the page only as text nodes and attributes, never as HTML.
 */

/** Every string the script writes (static labels are in index.html). */
const TEXT = {
  conn: {
    connecting: 'connecting…',
    live: 'live',
    reconnecting: 'reconnecting…',
    unauthorized: 'unauthorized',
  },
  tokenRejected: 'The admin token was not accepted (or has changed). Enter it again.',
  tokenInvalid: 'A token is printable ASCII without spaces.',
  skew: (s) => `browser ${s > 0 ? '+' : '−'}${Math.abs(s)} s`,
  anomalies: {
    replayed_id: 'Replayed ids',
    past_deadline: 'Seen past deadline',
    extension_storm: 'Extension storms',
    clock_skew: 'Clock skew',
    automated_keepalive: 'Automated keep-alive',
  },
  verdicts: {
    allowed: 'Allowed',
    passive: 'Passive',
    rejected: 'Rejected',
    unavailable: 'Unavailable',
    unverified: 'Unverified',
  },
  none: '—',
  off: 'off',
  action: { revoke: 'Revoke', 'revoke-subject': 'Sign out everywhere' },
  confirm: { revoke: 'Confirm revoke', 'revoke-subject': 'Confirm sign out' },
  revoked: (subject) => `Revoked a session of ${subject ?? 'no subject'}.`,
  alreadyEnded: 'That session had already ended; its reason stands.',
  notFound: 'The store no longer knows that session.',
  signedOut: (subject, n) => `Signed ${subject} out everywhere: ${n} session(s) revoked.`,
  failed: (message) => `Revoke failed: ${message}`,
  shown: (n, more) => `${n} shown${more ? ', more available' : ''}`,
  stream: { open: 'streaming', retrying: 'reconnecting…', polling: 'polling every 2 s' },
  missed: (n) => `${n} event(s) were dropped by the server before we read them.`,
  sources: { sessions: 'Sessions', stats: 'Stats', events: 'Events', policy: 'Policy' },
  timeout: 'timed out after 10 s',
  unreachable: 'server unreachable',
  badAnswer: 'unreadable answer',
  notStream: 'no event stream',
  chart: (t) =>
    `Session ends by reason, last 60 minutes: ${t.idle} idle, ${t.absolute} absolute, ${t.revoked} revoked`,
  bucket: (time, b) => `${time}: ${b.idle} idle, ${b.absolute} absolute, ${b.revoked} revoked`,
  loadedAt: (time) => `loaded ${time}`,
  from: (from) => `from ${from}`,
  clamped: ' (clamped to half the idle timeout)',
  noRules: 'none (defaults only)',
};

const TOKEN_KEY = 'lapse-admin-token';
const TIMEOUT_MS = 10_000;
const ARM_MS = 5000;
const BACKOFF_MS = [1000, 2000, 5000];
/** Three missed `: ping` comments (one per 15 s) and the stream is presumed dead. */
const STREAM_IDLE_MS = 45_000;
/** Failed connects in a row, none opened, before polling instead. */
const STREAM_GIVE_UP = 4;
const MAX_EVENTS = 200;
const REASONS = ['idle', 'absolute', 'revoked'];
const CELLS = ['subject', 'roles', 'userType', 'rule', 'state', 'idle', 'absolute', 'actions'];
const UNITS = { d: 86_400_000, h: 3_600_000, min: 60_000, s: 1000 };

/** All mutable state; a new `epoch` stops the loops of the previous one. */
const app = {
  token: '',
  epoch: 0,
  started: false,
  unauthorized: false,
  clock: { storeNow: 0, receivedAt: 0 },
  errors: new Map(),
  notice: '',
  noticeTimer: 0,
  stream: '',
  streamAbort: null,
  lastSeq: 0, // `after` 0 asks for every kept event; without `after` the stream sends only new ones
  view: { gen: 0, pages: 1, next: null, busy: false, again: false },
  rows: new Map(),
  armTimers: new WeakMap(),
  statsTimer: 0,
};

// ---------------------------------------------------------------- helpers

/** The element with this id. */
function $(id) {
  return document.getElementById(id);
}

/** An HTML element; string children become text nodes, never markup. */
function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, like {@link el}. */
function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);
}

/** Sets attributes and appends children. */
function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

/** Sets text only when it changed, so live regions and selections stay calm. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Resolves after `ms`. */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Two digits. */
function pad(n) {
  return String(n).padStart(2, '0');
}

/** HH:MM:SS in local time. */
function clockText(ms) {
  if (!Number.isFinite(ms)) return '--:--:--';
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** m:ss or h:mm:ss, never below 0:00. */
function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const mmss = `${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
  return h ? `${h}:${mmss}` : mmss.replace(/^0/, '');
}

/** "15 min", "8 h", "1 h 30 min", "30 s"; "off" for null. */
function duration(ms) {
  if (ms == null) return TEXT.off;
  if (ms < 1000) return `${ms} ms`;
  const parts = [];
  let rest = ms;
  for (const [unit, size] of Object.entries(UNITS)) {
    const n = Math.floor(rest / size);
    if (n) parts.push(`${n} ${unit}`);
    rest -= n * size;
  }
  return parts.join(' ');
}

/** The store's clock now: its last `now` plus the time since it arrived. */
function storeNow() {
  return app.clock.storeNow + (Date.now() - app.clock.receivedAt);
}

/** An error with the HTTP status (0: no answer) and the API's error code. */
function apiError(status, code, message) {
  return Object.assign(new Error(message), { status, code });
}

// ---------------------------------------------------------------- API

/** Request headers, with the token when there is one. */
function headers(accept) {
  return app.token ? { Accept: accept, Authorization: `Bearer ${app.token}` } : { Accept: accept };
}

/** Calls the admin API, returns its JSON and notes the store clock. */
async function api(path, method = 'GET') {
  let res;
  let body = null;
  try {
    const signal = AbortSignal.timeout(TIMEOUT_MS);
    res = await fetch(path, { method, headers: headers('application/json'), signal });
    body = await res.json().catch(() => null);
  } catch (err) {
    throw apiError(0, 'network', err?.name === 'TimeoutError' ? TEXT.timeout : TEXT.unreachable);
  }
  if (res.status === 401) throw unauthorized();
  if (!res.ok) throw apiError(res.status, body?.error, body?.message ?? `HTTP ${res.status}`);
  if (body === null) throw apiError(res.status, 'bad_answer', TEXT.badAnswer);
  if (typeof body.now === 'number') app.clock = { storeNow: body.now, receivedAt: Date.now() };
  return body;
}

/** Runs a background load; a failure goes to the status line, never the console. */
async function guarded(source, load) {
  try {
    await load();
    app.errors.delete(source);
  } catch (err) {
    if (err?.status !== 401) app.errors.set(source, `${TEXT.sources[source]}: ${err?.message}`);
  }
  renderHealth();
}

/** Runs `job` now (or after `ms` if `wait`), then `ms` after each run, in this epoch. */
function every(ms, job, wait = false) {
  const epoch = app.epoch;
  const run = async () => {
    if (epoch !== app.epoch) return;
    await job();
    if (epoch === app.epoch) setTimeout(run, ms);
  };
  setTimeout(run, wait ? ms : 0);
}

// ---------------------------------------------------------------- lifecycle

/** Wires the page once, then asks whether a token is needed. */
function boot() {
  keepToken();
  let filterTimer = 0;
  $('filters').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(onFiltersChange, 250);
  });
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    onFiltersChange();
  });
  $('load-more').addEventListener('click', () => {
    app.view.pages += 1;
    refreshSessions();
  });
  $('gate-form').addEventListener('submit', onTokenSubmit);
  $('sessions-body').addEventListener('click', onSessionAction);
  $('explain-form').addEventListener('submit', onExplain);
  setInterval(tick, 1000);
  connect();
}

/**
 * First contact: GET /api/auth says whether a token is needed and whether the
 * one kept is right (never a 401, which browsers log as an error); without a
 * good one the form shows, otherwise the dashboard starts.
 */
async function connect() {
  let stats = null;
  try {
    const auth = await api('/api/auth');
    if (auth.tokenRequired && !auth.authorized) {
      unauthorized();
      return;
    }
    stats = await api('/api/stats');
  } catch (err) {
    if (err.status === 401) return;
    app.errors.set('stats', `${TEXT.sources.stats}: ${err.message}`);
  }
  start();
  if (stats) renderStats(stats);
}

/** Shows the dashboard and starts every loop in a new epoch. */
function start() {
  app.epoch += 1;
  app.started = true;
  app.unauthorized = false;
  $('gate').hidden = true;
  $('dash').hidden = false;
  every(2000, refreshSessions);
  every(5000, () => guarded('stats', loadStats), true);
  guarded('policy', loadPolicy);
  runEventStream(app.epoch);
}

/** On any 401: stop the loops, forget the token, show the form. Returns the error. */
function unauthorized() {
  if (!app.unauthorized) {
    const hadToken = Boolean(app.token);
    app.unauthorized = true;
    app.epoch += 1;
    app.streamAbort?.abort();
    app.errors.clear();
    keepToken('');
    $('dash').hidden = true;
    $('gate').hidden = false;
    setText($('gate-message'), hadToken ? TEXT.tokenRejected : '');
    $('gate-token').focus();
    renderHealth();
  }
  return apiError(401, 'unauthorized', TEXT.conn.unauthorized);
}

/** Keeps the token for this tab, forgets it (''), or reads it back (undefined). */
function keepToken(token) {
  try {
    if (token === undefined) token = sessionStorage.getItem(TOKEN_KEY) ?? '';
    else if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // no storage (refused by the browser): the token lives in this page only
  }
  app.token = token ?? '';
}

/** The token form: save the token and try again. */
function onTokenSubmit(event) {
  event.preventDefault();
  const token = $('gate-token').value.trim();
  if (!/^[\x21-\x7e]+$/.test(token)) return setText($('gate-message'), TEXT.tokenInvalid);
  $('gate-token').value = '';
  keepToken(token);
  app.unauthorized = false;
  connect();
}

/** The connection badge and the status line. */
function renderHealth() {
  let state = app.started ? 'live' : 'connecting';
  if (app.errors.size > 0 || app.stream === 'retrying') state = 'reconnecting';
  if (app.unauthorized) state = 'unauthorized';
  const conn = $('conn');
  if (conn.dataset.state !== state) {
    conn.dataset.state = state;
    conn.textContent = TEXT.conn[state];
  }
  const status = $('status');
  setText(status, [...app.errors.values(), app.notice].filter(Boolean).join(' · '));
  status.classList.toggle('is-error', app.errors.size > 0);
}

/** A passing message in the status line. */
function notice(text) {
  app.notice = text;
  clearTimeout(app.noticeTimer);
  app.noticeTimer = setTimeout(() => notice(''), 8000);
  renderHealth();
}

/** Every second: the store clock and the countdowns. */
function tick() {
  if (!app.clock.receivedAt) return;
  const now = storeNow();
  setText($('store-clock'), clockText(now));
  $('store-clock').setAttribute('datetime', new Date(now).toISOString());
  // Latency makes the estimate rough: show only a clear skew.
  const skew = Math.round((Date.now() - now) / 1000);
  setText($('clock-skew'), Math.abs(skew) >= 2 ? TEXT.skew(skew) : '');
  for (const row of app.rows.values()) updateCountdowns(row, now);
}

// ---------------------------------------------------------------- sessions

/** New filters: back to one page of the new query. */
function onFiltersChange() {
  app.view.gen += 1;
  app.view.pages = 1;
  refreshSessions();
}

/** Reloads the table; a call during a load makes it load once more after. */
async function refreshSessions() {
  const view = app.view;
  if (view.busy) {
    view.again = true;
    return;
  }
  view.busy = true;
  do {
    view.again = false;
    await guarded('sessions', loadSessions);
  } while (view.again && !app.unauthorized);
  view.busy = false;
}

/** Fetches as many pages as are open, with the filters as the query, and renders them. */
async function loadSessions() {
  const { gen, pages } = app.view;
  const found = new Map();
  let cursor = null;
  for (let page = 0; page < pages; page += 1) {
    const query = new URLSearchParams({ limit: '50' });
    for (const [key, value] of new FormData($('filters'))) {
      if (value.trim()) query.set(key, value.trim());
    }
    if (cursor) query.set('cursor', cursor);
    const body = await api(`/api/sessions?${query}`);
    for (const session of body.sessions) found.set(session.id, session);
    cursor = body.next;
    if (!cursor) break;
  }
  if (gen !== app.view.gen) return; // the filters changed meanwhile; the next load shows them
  app.view.next = cursor;
  renderSessions([...found.values()]);
}

/** Updates rows in place (keeping focus and armed buttons), adds new, drops gone. */
function renderSessions(sessions) {
  const body = $('sessions-body');
  sessions.forEach((session, index) => {
    const row = app.rows.get(session.id) ?? createRow(session);
    app.rows.set(session.id, row);
    updateRow(row, session);
    const at = body.children[index] ?? null;
    if (at !== row.tr) body.insertBefore(row.tr, at);
  });
  const kept = new Set(sessions.map((session) => session.id));
  for (const [id, row] of app.rows) {
    if (kept.has(id)) continue;
    row.tr.remove();
    app.rows.delete(id);
  }
  $('sessions-empty').hidden = sessions.length > 0;
  $('load-more').hidden = !app.view.next;
  setText($('sessions-count'), TEXT.shown(sessions.length, Boolean(app.view.next)));
  tick();
}

/** A table row with its cells and two-step buttons. */
function createRow(session) {
  const tr = el('tr', { 'data-testid': 'session-row', 'data-session-id': session.id });
  const nameId = `subject-${session.id}`;
  const button = (action) =>
    el(
      'button',
      { type: 'button', 'data-action': action, 'data-testid': action, 'aria-describedby': nameId },
      TEXT.action[action],
    );
  const row = { tr, session, revoke: button('revoke'), revokeSubject: button('revoke-subject') };
  for (const name of CELLS) {
    row[name] = tr.appendChild(el('td', { class: `col-${name}` }));
  }
  row.name = el('span', { class: 'subject', id: nameId });
  row.ref = el('code', { class: 'ref' });
  row.badge = el('span');
  row.subject.append(row.name, row.ref);
  row.state.append(row.badge);
  row.actions.append(row.revoke, row.revokeSubject);
  row.idle.dataset.testid = 'idle-countdown';
  row.absolute.dataset.testid = 'absolute-countdown';
  return row;
}

/** Writes a session into its row. */
function updateRow(row, session) {
  row.session = session;
  setText(row.name, session.subject ?? TEXT.none);
  setText(row.ref, String(session.ref ?? '').slice(0, 8));
  row.ref.title = session.ref ?? '';
  setText(row.roles, session.roles?.join(', ') || TEXT.none);
  setText(row.userType, session.userType ?? TEXT.none);
  setText(row.rule, session.rule ?? TEXT.none);
  setText(row.badge, session.state);
  row.badge.className = `badge state-${session.state}`;
  row.tr.dataset.state = session.state;
  if (!row.revoke.dataset.armed) row.revoke.disabled = session.state === 'ended';
  row.revokeSubject.disabled = typeof session.subject !== 'string' || !session.subject;
}

/** Idle and absolute countdowns; at zero the row is marked expiring until the next load. */
function updateCountdowns(row, now) {
  const { session } = row;
  const isEnded = session.state === 'ended';
  const idleLeft = session.idleExpiresAt === null ? null : session.idleExpiresAt - now;
  const absoluteLeft = session.absoluteExpiresAt - now;
  setText(row.idle, isEnded ? TEXT.none : idleLeft === null ? TEXT.off : countdown(idleLeft));
  setText(row.absolute, isEnded ? TEXT.none : countdown(absoluteLeft));
  const isExpiring = !isEnded && Math.min(absoluteLeft, idleLeft ?? absoluteLeft) <= 0;
  row.tr.classList.toggle('is-expiring', isExpiring);
  row.tr.toggleAttribute('data-expiring', isExpiring);
  row.idle.classList.toggle('is-warn', !isEnded && session.warnAt != null && now >= session.warnAt);
}

/** Revoke buttons: the first click arms for 5 s, a second click acts. */
function onSessionAction(event) {
  const button = event.target.closest('button[data-action]');
  const row = button && app.rows.get(button.closest('tr').dataset.sessionId);
  if (!row || button.disabled) return;
  if (!button.dataset.armed) {
    button.dataset.armed = 'true';
    setText(button, TEXT.confirm[button.dataset.action]);
    app.armTimers.set(
      button,
      setTimeout(() => disarm(button), ARM_MS),
    );
    return;
  }
  disarm(button);
  button.disabled = true;
  revoke(button.dataset.action, row.session).finally(() => {
    button.disabled = false;
    updateRow(row, row.session);
    refreshSessions();
  });
}

/** Back to the first step. */
function disarm(button) {
  clearTimeout(app.armTimers.get(button));
  delete button.dataset.armed;
  setText(button, TEXT.action[button.dataset.action]);
}

/** DELETE /api/sessions/:id, or /api/subjects/:subject/sessions (sign out everywhere). */
async function revoke(action, { id, subject }) {
  const one = action === 'revoke';
  // URL parsing turns a "." or ".." segment (even as %2e) into path navigation:
  // those subjects go in the query form of the same request.
  const path = one
    ? `sessions/${encodeURIComponent(id)}`
    : subject === '.' || subject === '..'
      ? `sessions?subject=${encodeURIComponent(subject)}`
      : `subjects/${encodeURIComponent(subject)}/sessions`;
  try {
    const body = await api(`/api/${path}`, 'DELETE');
    if (!one) notice(TEXT.signedOut(subject, body.revoked));
    else notice(body.outcome === 'revoked' ? TEXT.revoked(subject) : TEXT.alreadyEnded);
  } catch (err) {
    if (err.status === 401) return;
    notice(one && err.status === 404 ? TEXT.notFound : TEXT.failed(err.message));
  }
}

// ---------------------------------------------------------------- stats and chart

/** GET /api/stats */
async function loadStats() {
  renderStats(await api('/api/stats'));
}

/** Stats again shortly (after events); a burst of them makes one request. */
function statsSoon() {
  clearTimeout(app.statsTimer);
  app.statsTimer = setTimeout(() => guarded('stats', loadStats), 500);
}

/** The counters row and the chart. */
function renderStats(stats) {
  const { active = 0, warning = 0 } = stats.sessions ?? {};
  setText($('c-live'), String(active + warning));
  setText($('c-warning'), String(warning));
  setText($('c-ws'), String(stats.wsConnections ?? 0));
  const anomalies = Object.fromEntries(Object.keys(TEXT.anomalies).map((kind) => [kind, 0]));
  const isAlarm = (stats.anomalies?.past_deadline ?? 0) > 0;
  renderCounts('anomalies', Object.assign(anomalies, stats.anomalies), TEXT.anomalies);
  $('c-anomalies').closest('.card').classList.toggle('is-alarm', isAlarm);
  renderCounts('requests', stats.requests ?? {}, TEXT.verdicts);
  renderChart(stats.ends?.buckets ?? []);
}

/** A counter card: its total and one labelled line per key (`data-key`). */
function renderCounts(name, counts, labels) {
  const keys = Object.keys(counts);
  setText($(`c-${name}`), String(keys.reduce((sum, key) => sum + counts[key], 0)));
  const item = (key) =>
    el(
      'li',
      { 'data-key': key, class: key === 'past_deadline' && counts[key] > 0 ? 'is-alarm' : '' },
      el('span', {}, labels[key] ?? key),
      el('strong', {}, String(counts[key])),
    );
  $(`c-${name}-list`).replaceChildren(...keys.map(item));
}

/** The smallest 1, 2 or 5 times a power of ten at or above `n` (at least 1). */
function niceCeil(n) {
  const power = 10 ** Math.floor(Math.log10(Math.max(n, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= n);
}

/** Stacked bars of ends per minute (idle at the bottom), axes, legend. */
function renderChart(buckets) {
  const [width, height, left, right, top] = [640, 170, 30, 8, 8];
  const base = height - 20;
  const slot = (width - left - right) / Math.max(buckets.length, 60);
  const totals = { idle: 0, absolute: 0, revoked: 0 };
  let peak = 0;
  for (const b of buckets) {
    for (const reason of REASONS) totals[reason] += b[reason] ?? 0;
    peak = Math.max(peak, (b.idle ?? 0) + (b.absolute ?? 0) + (b.revoked ?? 0));
  }
  const max = niceCeil(peak);
  const scale = (base - top) / max;
  const chart = svg(
    'svg',
    {
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': TEXT.chart(totals),
      class: 'ends-svg',
    },
    svg('title', {}, TEXT.chart(totals)),
  );
  chart.dataset.testid = 'ends-chart';
  for (const value of [0, max / 2, max]) {
    const y = base - value * scale;
    chart.append(svg('line', { x1: left, x2: width - right, y1: y, y2: y, class: 'grid' }));
    if (Number.isInteger(value)) {
      chart.append(svg('text', { x: left - 5, y: y + 3.5, class: 'axis y' }, String(value)));
    }
  }
  buckets.forEach((b, index) => {
    const x = left + index * slot;
    const time = clockText(b.start).slice(0, 5);
    const group = svg('g', {}, svg('title', {}, TEXT.bucket(time, b)));
    group.append(svg('rect', { x, y: top, width: slot, height: base - top, class: 'hit' }));
    let y = base;
    for (const reason of REASONS) {
      const h = (b[reason] ?? 0) * scale;
      y -= h;
      if (!h) continue;
      const bar = { x: x + 0.5, y, width: Math.max(slot - 1, 1), height: h };
      group.append(svg('rect', { ...bar, fill: `url(#lapse-${reason})` }));
    }
    if (new Date(b.start).getMinutes() % 10 === 0) {
      group.append(svg('line', { x1: x, x2: x, y1: base, y2: base + 4, class: 'tick' }));
      group.append(svg('text', { x, y: height - 4, class: 'axis x' }, time));
    }
    chart.append(group);
  });
  $('chart').replaceChildren(chart);
  for (const reason of REASONS) setText($(`total-${reason}`), String(totals[reason]));
}

// ---------------------------------------------------------------- policy and explain

/** GET /api/policy */
async function loadPolicy() {
  const body = await api('/api/policy');
  setText($('policy-json'), JSON.stringify(body.policy, null, 2));
  setText($('policy-loaded'), TEXT.loadedAt(clockText(body.loadedAt)));
}

/** GET /api/explain from the form; the answer fills the definition list. */
async function onExplain(event) {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(event.target)) {
    if (value.trim()) query.set(key, value.trim().replace(/\s*,\s*/g, ','));
  }
  try {
    const answer = await api(`/api/explain?${query}`);
    const setting = (id, value, extra = '') =>
      $(id).replaceChildren(
        value ? duration(value.ms) : TEXT.none,
        el('span', { class: 'muted' }, value ? ` ${TEXT.from(value.from)}${extra}` : ''),
      );
    setting('x-idle', answer.idle);
    setting('x-absolute', answer.absolute);
    setting('x-warn', answer.warn, answer.warn?.clamped ? TEXT.clamped : '');
    setText($('x-matched'), answer.matched?.join(', ') || TEXT.noRules);
    setText($('x-message'), answer.message ?? TEXT.none);
    setText($('explain-error'), '');
    $('explain-result').hidden = false;
  } catch (err) {
    if (err.status !== 401) setText($('explain-error'), err.message);
  }
}

// ---------------------------------------------------------------- live events

/** The feed's mode beside its heading; a retrying stream shows as reconnecting. */
function setStream(state) {
  app.stream = state;
  setText($('events-mode'), TEXT.stream[state]);
  renderHealth();
}

/** Keeps a stream open in this epoch: reconnects with backoff, or falls back to polling. */
async function runEventStream(epoch) {
  let failures = 0;
  let attempt = 0;
  while (epoch === app.epoch) {
    const opened = () => {
      failures = -1; // counted back to 0 below
      attempt = 0;
      setStream('open');
    };
    try {
      await readEventStream(opened);
    } catch (err) {
      if (err?.status === 401 || epoch !== app.epoch) return;
      if (err?.code === 'not_a_stream') failures = STREAM_GIVE_UP;
    }
    if (epoch !== app.epoch) return;
    failures += 1;
    if (failures >= STREAM_GIVE_UP) {
      setStream('polling');
      return every(2000, () => guarded('events', pollEvents));
    }
    setStream('retrying');
    await sleep(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]);
    attempt += 1;
  }
}

/** One stream connection, until it ends, fails or goes quiet. */
async function readEventStream(onOpen) {
  // A restarted server counts seq from 1 again: then start over without `after`.
  if (app.lastSeq > 0) {
    const head = await api(`/api/events?after=${app.lastSeq}&limit=1`);
    if (head.lastSeq < app.lastSeq) app.lastSeq = 0;
  }
  const controller = new AbortController();
  app.streamAbort = controller;
  let watchdog = 0;
  const expectWithin = (ms) => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => controller.abort(), ms);
  };
  expectWithin(TIMEOUT_MS);
  try {
    const init = { headers: headers('text/event-stream'), signal: controller.signal };
    const res = await fetch(`/api/events?after=${app.lastSeq}`, init);
    if (res.status === 401) throw unauthorized();
    if (!res.ok) throw apiError(res.status, 'http', `HTTP ${res.status}`);
    if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
      throw apiError(res.status, 'not_a_stream', TEXT.notStream);
    }
    onOpen();
    expectWithin(STREAM_IDLE_MS);
    await parseEventStream(res.body, onStreamMessage, () => expectWithin(STREAM_IDLE_MS));
  } finally {
    clearTimeout(watchdog);
    controller.abort();
  }
}

/** Server-sent events: `field: value` lines, a blank line ends a message, `:` lines are comments. */
async function parseEventStream(stream, onMessage, onActivity) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let message = { id: '', event: '', data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onActivity(); // pings count too
    const lines = (buffer + value).split(/\r?\n/);
    buffer = lines.pop();
    for (const line of lines) {
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (line === '' && message.data.length)
        onMessage({ ...message, data: message.data.join('\n') });
      if (line === '') message = { id: '', event: '', data: [] };
      else if (field === 'data') message.data.push(text);
      else if (field === 'id' || field === 'event') message[field] = text;
    }
  }
}

/** An `audit` message of the stream; a malformed one is skipped. */
function onStreamMessage(message) {
  if (message.event !== 'audit' && message.event !== '') return;
  try {
    const event = JSON.parse(message.data);
    event.seq ??= Number(message.id);
    receiveEvents([event]);
  } catch {
    // one bad message does not end the stream
  }
}

/** The polling fallback: GET /api/events?after=<seq>. */
async function pollEvents() {
  const body = await api(`/api/events?after=${app.lastSeq}`);
  if (body.lastSeq < app.lastSeq) {
    app.lastSeq = 0; // the server restarted: read its log from the start next time
    return;
  }
  if (body.missed > 0 && app.lastSeq > 0) notice(TEXT.missed(body.missed));
  receiveEvents(body.events);
}

/** Puts events (oldest first) at the top of the feed and reacts to them. */
function receiveEvents(events) {
  const body = $('events-body');
  let touchesSessions = false;
  let touchesStats = false;
  for (const event of events) {
    if (Number.isFinite(event.seq)) app.lastSeq = event.seq;
    const name = String(event.event ?? '');
    body.prepend(eventRow(event, name));
    touchesSessions ||= name.startsWith('session.');
    touchesStats ||= touchesSessions || name.startsWith('anomaly.');
    if (name === 'policy.reload') guarded('policy', loadPolicy);
  }
  while (body.rows.length > MAX_EVENTS) body.lastElementChild.remove();
  if (touchesSessions) refreshSessions();
  if (touchesStats) statsSoon();
}

/** The colour family of an event name. */
function family(name) {
  if (name.startsWith('anomaly.')) return 'anomaly';
  if (name === 'session.revoke' || name === 'session.expire') return 'end';
  return name === 'policy.reload' ? 'policy' : 'session';
}

/** One feed row. */
function eventRow(event, name) {
  const time = el('time', {}, clockText(event.time));
  if (Number.isFinite(event.time))
    time.setAttribute('datetime', new Date(event.time).toISOString());
  const clip = (text) =>
    text == null ? TEXT.none : el('span', { class: 'clip', title: text }, text);
  const ref = typeof event.session === 'string' ? event.session : '';
  return el(
    'tr',
    { 'data-testid': 'event', 'data-seq': event.seq, 'data-event': name },
    el('td', {}, time),
    el('td', {}, el('span', { class: `badge fam-${family(name)}` }, name)),
    el('td', {}, clip(event.subject)),
    el('td', {}, clip(event.rule)),
    el('td', {}, clip(event.reason)),
    el('td', {}, ref ? el('code', { class: 'ref', title: ref }, ref.slice(0, 8)) : TEXT.none),
  );
}

boot();
