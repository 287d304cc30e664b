/**
 * The browser SDK end to end, in Debian's Chromium (playwright-core), against
 * the `npm start` demo behind the real gateway. Time moves on both sides
 * together: the store's clock is real time plus an offset the test advances,
 * and the pages' clocks are Playwright's, fast-forwarded by the same amounts.
 * The demo's admins rule: idle 60 s, warning 20 s before.
 *
 * That model holds only if every request a step causes reaches the server
 * before the next step moves the clock: a request that lands later is dated
 * (and, unless passive, counted as activity) at the moved time. Hence no
 * step starts before the pages' clients have their first status, and the
 * one request Chromium makes by itself at a time of its own choosing, the
 * page's `/favicon.ico`, never reaches the gateway.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../src/session/clock.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { type DemoBehindGateway, startDemoBehindGateway } from './helpers/demo-behind-gateway.js';

const CHROMIUM = '/usr/bin/chromium';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
/** The committed screenshot is rewritten only on request (LAPSE_UPDATE_SCREENSHOTS=1), so a test run leaves the tree clean. */
const SCREENSHOTS =
  process.env.LAPSE_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../docs/', import.meta.url))
    : `${tmpdir()}/lapse-screenshots/`;
const SECOND = 1_000;

/** The store's clock: real time, plus whatever the test has fast-forwarded. */
class ShiftedClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

describe.skipIf(!existsSync(CHROMIUM))('the browser SDK in Chromium, against the demo', () => {
  let browser: Browser;
  let demo: DemoBehindGateway;
  let clock: ShiftedClock;
  let context: BrowserContext;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    clock = new ShiftedClock();
    demo = await startDemoBehindGateway({
      store: new MemoryStore({ clock, sweepIntervalMs: 0 }),
      tickIntervalMs: 60_000,
    });
    // bypassCSP: the axe-core scan injects a script the demo's CSP would block.
    context = await browser.newContext({ baseURL: demo.url, bypassCSP: true });
    await context.clock.install({ time: Date.now() });
    // Chromium asks for /favicon.ico on its own, some time after a page has loaded. Through the
    // gateway that is a request of the person (not passive), so when it lands after a
    // fast-forward it touches the session at the moved time and pushes the warning away. The
    // demo has no icon (it answers 404): answer here, and the session sees only the pages' own
    // requests.
    await context.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  });

  afterEach(async () => {
    await context.close();
    await demo.close();
  });

  /** Let `ms` pass for the server and for every page, timers included. */
  async function elapse(ms: number, page: Page): Promise<void> {
    clock.offsetMs += ms;
    await page.clock.fastForward(ms);
  }

  async function signIn(page: Page, name: string, role: 'admin' | 'user', path = '/login') {
    await page.goto(path);
    await page.fill('#name', name);
    await page.selectOption('#role', role);
    // The keyboard, not the mouse: a pointer left over the page would make the browser send
    // it (trusted) mouse moves when the layout changes, which the SDK rightly counts as activity.
    await page.press('#name', 'Enter');
    await page.waitForURL((url) => url.pathname !== '/login');
  }

  /** The page's client has read its first status: nothing it starts with is in flight any more. */
  async function ready(page: Page): Promise<void> {
    await expect
      .poll(() => page.evaluate<string | undefined>('window.lapse?.snapshot.phase'), {
        timeout: 5_000,
      })
      .toBe('active');
  }

  /** The phase once the page's client has talked to the server (`sync()`: a passive status read). */
  const syncedPhase = (page: Page) =>
    page.evaluate<string>('window.lapse.sync().then((snapshot) => snapshot.phase)');

  const dialog = (page: Page) => page.getByRole('alertdialog');
  const stayButton = (page: Page) => page.getByRole('button', { name: 'Stay signed in' });

  async function status(page: Page): Promise<{ idleExpiresAt: number; state: string }> {
    const res = await page.request.get('/_lapse/status');
    expect(res.status()).toBe(200);
    return (await res.json()) as { idleExpiresAt: number; state: string };
  }

  it('opens the warning at warn time with focus on "Stay signed in", passes axe, and extends on the server from the keyboard alone', async () => {
    const page = await context.newPage();
    await signIn(page, 'Ada', 'admin');
    await ready(page);
    const before = await status(page);
    await elapse(38 * SECOND, page);
    // Every timer due by now has run; once the client has also heard the server, still no warning.
    expect(await syncedPhase(page)).toBe('active');
    expect(await dialog(page).isVisible()).toBe(false);
    // Nothing has touched the session since sign-in: the warning is due 40 s after it.
    expect((await status(page)).idleExpiresAt).toBe(before.idleExpiresAt);
    await elapse(3 * SECOND, page);
    await expect.poll(() => dialog(page).isVisible(), { timeout: 5_000 }).toBe(true);
    await expect
      .poll(() => stayButton(page).evaluate((button) => button.matches(':focus')))
      .toBe(true);
    await expect
      .poll(() => dialog(page).textContent())
      .toContain('Admin sessions end after 60 seconds without activity');

    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate<string[]>(
      'axe.run(document).then((result) => result.violations.map((violation) => violation.id))',
    );
    expect(violations).toEqual([]);

    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}warning.png` });

    // Keyboard only: focus is on "Stay signed in"; Enter presses it.
    await page.keyboard.press('Enter');
    await expect.poll(() => dialog(page).isVisible(), { timeout: 5_000 }).toBe(false);
    const after = await status(page);
    expect(after.idleExpiresAt).toBeGreaterThan(before.idleExpiresAt + 30 * SECOND);
    expect(after.state).toBe('active');
  });

  it('shows the same countdown in two tabs, and one click dismisses both', async () => {
    const first = await context.newPage();
    await signIn(first, 'Grace', 'admin');
    const second = await context.newPage();
    await second.goto('/');
    await Promise.all([ready(first), ready(second)]);
    clock.offsetMs += 45 * SECOND;
    await Promise.all([
      first.clock.fastForward(45 * SECOND),
      second.clock.fastForward(45 * SECOND),
    ]);
    await expect.poll(() => dialog(first).isVisible(), { timeout: 5_000 }).toBe(true);
    await expect.poll(() => dialog(second).isVisible(), { timeout: 5_000 }).toBe(true);
    const countdown = (page: Page) =>
      page.locator('lapse-warning').evaluate((element) => {
        const text = element.shadowRoot?.querySelector('[part~="countdown"]')?.textContent ?? '';
        const [minutes, seconds] = text.split(':').map(Number);
        return (minutes ?? 0) * 60 + (seconds ?? 0);
      });
    const [a, b] = await Promise.all([countdown(first), countdown(second)]);
    expect(a).toBeGreaterThan(0);
    expect(Math.abs(a - b)).toBeLessThanOrEqual(1);
    await stayButton(second).click();
    await expect.poll(() => dialog(second).isVisible(), { timeout: 5_000 }).toBe(false);
    await expect.poll(() => dialog(first).isVisible(), { timeout: 5_000 }).toBe(false);
  });

  it('lets a session with only passive polling expire, carries the reason, and restores the half-filled form after signing in again', async () => {
    const page = await context.newPage();
    await signIn(page, 'Linus', 'admin', '/login?return_to=%2Fform');
    expect(new URL(page.url()).pathname).toBe('/form');
    await ready(page);
    await page.fill('#title', 'Quarterly report');
    await page.fill('#notes', 'Half written, do not lose this.');
    await page.selectOption('#priority', { index: 2 });
    await page.fill('#password', 'hunter2');
    await page.fill('#code', '123456');
    const polls: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/api/poll')) polls.push(request.url());
    });
    // Nobody touches the page from here on: only the background poller talks to the server.
    for (let step = 0; step < 14 && new URL(page.url()).pathname === '/form'; step += 1) {
      clock.offsetMs += 10 * SECOND;
      await page.clock.runFor(10 * SECOND).catch(() => undefined);
      await page.waitForTimeout(100);
    }
    await page.waitForURL((url) => url.pathname === '/login', { timeout: 10_000 });
    const url = new URL(page.url());
    expect(url.searchParams.get('reason')).toBe('idle');
    expect(url.searchParams.get('return_to')).toBe('/form');
    expect(polls.length).toBeGreaterThan(3);

    await page.fill('#name', 'Linus');
    await page.selectOption('#role', 'admin');
    await page.click('button[type=submit]');
    await page.waitForURL((next) => next.pathname === '/form');
    await expect.poll(() => page.inputValue('#title')).toBe('Quarterly report');
    expect(await page.inputValue('#notes')).toBe('Half written, do not lose this.');
    expect(
      await page
        .locator('#priority')
        .evaluate((select) => (select as unknown as { selectedIndex: number }).selectedIndex),
    ).toBe(2);
    expect(await page.inputValue('#password')).toBe('');
    expect(await page.inputValue('#code')).toBe('');
  });

  it('expires a tab that was frozen in the background as soon as it runs again', async () => {
    const page = await context.newPage();
    await signIn(page, 'Barbara', 'admin');
    await ready(page);
    await elapse(42 * SECOND, page);
    await expect
      .poll(() => page.evaluate<string>('window.lapse.snapshot.phase'), { timeout: 5_000 })
      .toBe('warning');
    const cdp = await context.newCDPSession(page);
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    // The deadline passes while the tab is frozen: no timer of it runs.
    clock.offsetMs += 30 * SECOND;
    await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    await page.clock.fastForward(30 * SECOND);
    await page.waitForURL((url) => url.pathname === '/login', { timeout: 5_000 });
    expect(new URL(page.url()).searchParams.get('reason')).toBe('idle');
  });
});
