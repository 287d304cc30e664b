/**
 * The admin dashboard in Debian's Chromium (playwright-core), against the
 * `npm start` demo behind the real gateway with its admin listener on: a
 * person signs in through the gateway and opens the demo's live feed (a
 * WebSocket); a security engineer opens the dashboard in another browser
 * context, sees that session count down, and revokes it. Real time, real
 * sockets; every wait is a poll with a generous bound.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DemoBehindGateway, startDemoBehindGateway } from './helpers/demo-behind-gateway.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'a-dashboard-test-token-0123456789';
/** The committed screenshots are rewritten only on request (LAPSE_UPDATE_SCREENSHOTS=1). */
const SCREENSHOTS =
  process.env.LAPSE_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../docs/', import.meta.url))
    : `${tmpdir()}/lapse-screenshots/`;

/** `m:ss` or `h:mm:ss` as seconds. */
function seconds(text: string | null): number {
  const parts = (text ?? '').trim().split(':').map(Number);
  if (parts.length < 2 || parts.some((part) => !Number.isFinite(part))) {
    throw new Error(`not a countdown: ${JSON.stringify(text)}`);
  }
  return parts.reduce((total, part) => total * 60 + part, 0);
}

describe.skipIf(!existsSync(CHROMIUM))('the admin dashboard in Chromium, against the demo', () => {
  let browser: Browser;
  let demo: DemoBehindGateway;
  let adminUrl: string;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    await mkdir(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    demo = await startDemoBehindGateway({
      replace: [
        [
          'admin: { listen: 127.0.0.1:7778 }',
          'admin: { listen: 127.0.0.1:0, token: env:LAPSE_ADMIN_TOKEN }',
        ],
      ],
      env: { LAPSE_ADMIN_TOKEN: TOKEN },
      observability: { audit: { destination: { write: () => true } }, clockSkewIntervalMs: 0 },
      admin: true,
    });
    adminUrl = demo.gateway.gateway.adminUrl as string;
  });

  afterEach(async () => {
    await demo.close();
  });

  async function signInToFeed(name: string): Promise<Page> {
    const context = await browser.newContext({ baseURL: demo.url });
    const page = await context.newPage();
    await page.goto('/login?return_to=/feed');
    await page.fill('#name', name);
    await page.selectOption('#role', 'user');
    await page.press('#name', 'Enter');
    await page.waitForURL((url) => url.pathname === '/feed');
    await expect.poll(() => page.textContent('#state'), { timeout: 10_000 }).toBe('connected');
    return page;
  }

  async function openDashboard(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    const external: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(adminUrl)) external.push(request.url());
    });
    await page.goto(adminUrl);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    Object.assign(page, { errors, external });
    return page;
  }

  const row = (page: Page, subject: string) =>
    page.locator('[data-testid="session-row"]', { hasText: subject });

  it('shows a session started through the gateway counting down; revoking it ends its requests and closes its WebSocket', async () => {
    const person = await signInToFeed('Grace');
    const dashboard = await openDashboard();
    await expect.poll(() => row(dashboard, 'Grace').count(), { timeout: 10_000 }).toBe(1);
    const grace = row(dashboard, 'Grace');
    expect(await grace.textContent()).toContain('defaults');
    expect(await grace.textContent()).toContain('active');

    // The idle countdown runs down on the page (ticking from the store's clock, not the browser's).
    const idle = grace.locator('[data-testid="idle-countdown"]');
    const first = seconds(await idle.textContent());
    expect(first).toBeGreaterThan(60);
    expect(first).toBeLessThanOrEqual(120);
    await expect
      .poll(async () => seconds(await idle.textContent()), { timeout: 10_000 })
      .toBeLessThanOrEqual(first - 2);
    const absolute = seconds(
      await grace.locator('[data-testid="absolute-countdown"]').textContent(),
    );
    expect(absolute).toBeGreaterThan(first);

    // The live feed shows the sign-in, and the chart and counters are drawn.
    await expect
      .poll(() => dashboard.locator('[data-testid="event"]', { hasText: 'session.begin' }).count())
      .toBeGreaterThan(0);
    expect(await dashboard.textContent('[data-testid="count-live"]')).toBe('1');
    expect(await dashboard.textContent('[data-testid="count-ws"]')).toBe('1');
    await dashboard.screenshot({ path: `${SCREENSHOTS}dashboard.png`, fullPage: true });

    // Revoke it (two steps: the button asks for a confirmation first).
    const revoke = grace.locator('[data-testid="revoke"]');
    await revoke.click();
    await revoke.click();
    await expect.poll(() => row(dashboard, 'Grace').count(), { timeout: 10_000 }).toBe(0);

    // Its WebSocket is closed by the gateway with 4401, and its next request is refused.
    await expect
      .poll(() => person.textContent('#state'), { timeout: 10_000 })
      .toMatch(/^closed: 4401 session_expired:revoked/);
    const next = await person.context().request.get('/form', {
      headers: { accept: 'application/json' },
      maxRedirects: 0,
    });
    expect(next.status()).toBe(401);
    await expect
      .poll(
        () => dashboard.locator('[data-testid="event"]', { hasText: 'session.revoke' }).count(),
        {
          timeout: 10_000,
        },
      )
      .toBeGreaterThan(0);
    // The counters and the chart follow (stats refresh on events and every 5 s).
    await expect
      .poll(() => dashboard.textContent('[data-testid="count-live"]'), { timeout: 10_000 })
      .toBe('0');
    await expect
      .poll(() => dashboard.textContent('[data-testid="count-ws"]'), { timeout: 10_000 })
      .toBe('0');
    await expect
      .poll(() => dashboard.locator('[data-testid="ends-chart"]').getAttribute('aria-label'), {
        timeout: 10_000,
      })
      .toMatch(/\b1 revoked/);
    await dashboard.screenshot({ path: `${SCREENSHOTS}dashboard-revoked.png`, fullPage: true });

    const { errors, external } = dashboard as Page & { errors: string[]; external: string[] };
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
  });

  it('signs a subject out everywhere from the dashboard', async () => {
    const first = await signInToFeed('Linus');
    const second = await signInToFeed('Linus');
    const dashboard = await openDashboard();
    await expect.poll(() => row(dashboard, 'Linus').count(), { timeout: 10_000 }).toBe(2);
    const everywhere = row(dashboard, 'Linus').first().locator('[data-testid="revoke-subject"]');
    await everywhere.click();
    await everywhere.click();
    await expect.poll(() => row(dashboard, 'Linus').count(), { timeout: 10_000 }).toBe(0);
    for (const page of [first, second]) {
      await expect
        .poll(() => page.textContent('#state'), { timeout: 10_000 })
        .toMatch(/^closed: 4401/);
    }
  });

  it('asks for the token again after a wrong one, and shows no data without it', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(adminUrl);
    await page.getByLabel('Admin token').fill('not-the-token-but-long-enough-xx');
    await page.getByLabel('Admin token').press('Enter');
    await expect
      .poll(() => page.getByLabel('Admin token').isVisible(), { timeout: 5_000 })
      .toBe(true);
    expect(await page.locator('[data-testid="session-row"]').count()).toBe(0);
  });
});
