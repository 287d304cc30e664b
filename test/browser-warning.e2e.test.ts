/**
 * `<lapse-warning>` and `lapse/react` in a real Chromium: the element is
 * bundled with esbuild (this file is typechecked without the DOM library, so
 * it never imports browser code, and everything that runs in the page is a
 * string), served from 127.0.0.1 with a fake in-page client the tests drive.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`test/browser-warning.e2e.test.ts: SKIPPED, no Chromium at ${CHROMIUM}`);
}
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AXE = fileURLToPath(new URL('../node_modules/axe-core/axe.min.js', import.meta.url));

/**
 * In the page: `fake`, a LapseClientLike whose snapshots the tests emit and whose calls they
 * read, and `probe`, small readers of the element's shadow DOM.
 */
const HARNESS = `
window.fake = {
  snapshot: Object.freeze({ phase: 'active', remainingSeconds: 600, endsBy: 'idle', endsAt: 1e12, absoluteExpiresAt: 2e12, canExtend: true }),
  listeners: new Set(),
  calls: [],
  extendOutcome: 'resolve',
  release: null,
  subscribe(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); },
  emit(patch) {
    this.snapshot = Object.freeze({ ...this.snapshot, ...patch });
    for (const listener of [...this.listeners]) listener(this.snapshot);
  },
  warn(remainingSeconds, patch) {
    this.emit({ phase: 'warning', remainingSeconds, ...patch });
  },
  extend() {
    this.calls.push('extend');
    if (this.extendOutcome === 'reject') return Promise.reject(new Error('offline'));
    if (this.extendOutcome === 'hold') return new Promise((resolve) => { this.release = resolve; });
    return Promise.resolve();
  },
  signOut() { this.calls.push('signOut'); return Promise.resolve(); },
};
window.probe = {
  host: () => document.querySelector('lapse-warning'),
  part: (name) => probe.host().shadowRoot.querySelector('[part="' + name + '"]'),
  text: (name) => probe.part(name).textContent,
  isOpen: () => probe.part('backdrop').open,
  focused() {
    let active = document.activeElement;
    while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
    return active ? active.getAttribute('part') || active.id || active.tagName.toLowerCase() : null;
  },
  announcements: [],
  record() {
    new MutationObserver(() => {
      const text = probe.text('status');
      if (text) probe.announcements.push(text);
    }).observe(probe.part('status'), { childList: true, characterData: true, subtree: true });
  },
};
`;

/** Defines the element and hands it the fake client (or the other way round, with `?upgrade`). */
const START_ELEMENT = `
const element = document.querySelector('lapse-warning');
if (location.search === '?upgrade') {
  element.client = fake;
  LapseWarning.defineLapseWarning();
} else {
  LapseWarning.defineLapseWarning();
  element.client = fake;
}
probe.record();
`;

const REACT_APP = `
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { LapseWarning, useLapse } from './src/react/index.ts';

function Status({ client, id }) {
  const { phase, remainingSeconds } = useLapse(client);
  return createElement('output', { id }, phase + ' ' + remainingSeconds);
}
window.lapse = window.fake;
createRoot(document.getElementById('root')).render(
  createElement('main', null,
    createElement(Status, { client: window.fake, id: 'explicit' }),
    createElement(Status, { id: 'global' }),
    createElement(LapseWarning, { strings: { stayLabel: 'Keep going' } })),
);
`;

function html(body: string): string {
  return `<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>lapse warning test</title></head><body>${body}</body></html>`;
}

const PAGES: Record<string, (assets: Record<string, string>) => string> = {
  '/': () =>
    html(
      '<main><h1>Account</h1><button id="before">Before</button></main><lapse-warning></lapse-warning>' +
        '<script src="/element.js"></script><script src="/harness.js"></script><script src="/start.js"></script>',
    ),
  '/react': () =>
    html(
      '<div id="root"></div><script src="/harness.js"></script><script src="/react.js"></script>',
    ),
};

describe.skipIf(!hasChromium)(
  hasChromium
    ? '<lapse-warning> in Chromium'
    : `<lapse-warning> in Chromium: SKIPPED, no browser at ${CHROMIUM}`,
  () => {
    let browser: Browser;
    let server: Server;
    let origin: string;
    let page: Page;

    beforeAll(async () => {
      const [element, react] = await Promise.all([
        build({
          entryPoints: [`${ROOT}src/browser/lapse-warning.ts`],
          bundle: true,
          format: 'iife',
          globalName: 'LapseWarning',
          target: 'es2022',
          write: false,
        }),
        build({
          stdin: { contents: REACT_APP, resolveDir: ROOT, loader: 'js' },
          bundle: true,
          format: 'iife',
          target: 'es2022',
          define: { 'process.env.NODE_ENV': '"production"' },
          write: false,
        }),
      ]);
      const assets: Record<string, string> = {
        '/element.js': element.outputFiles[0]?.text ?? '',
        '/react.js': react.outputFiles[0]?.text ?? '',
        '/harness.js': HARNESS,
        '/start.js': START_ELEMENT,
      };
      server = createServer((request, response) => {
        const path = (request.url ?? '/').split('?')[0] ?? '/';
        const page = PAGES[path];
        const body = page ? page(assets) : assets[path];
        if (body === undefined) {
          response.writeHead(404).end();
          return;
        }
        response
          .writeHead(200, { 'content-type': page ? 'text/html' : 'text/javascript' })
          .end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => server?.close(resolve));
    });

    beforeEach(async (context) => {
      page = await browser.newPage();
      context.onTestFinished(() => page.close());
    });

    /** Runs `expression` in the page; its value comes back. */
    function inPage<T>(expression: string): Promise<T> {
      return page.evaluate<T>(expression);
    }

    async function open(path = '/'): Promise<void> {
      await page.goto(origin + path);
      await page.focus('#before');
    }

    const focused = (): Promise<string | null> => inPage('probe.focused()');
    const isOpen = (): Promise<boolean> => inPage('probe.isOpen()');
    const calls = (): Promise<string[]> => inPage('fake.calls');
    const visible = (text: string | RegExp): Promise<boolean> =>
      page.getByText(text, { exact: true }).isVisible();
    const buttons = (name: string): Promise<number> =>
      page.getByRole('button', { name, exact: true }).count();

    /** Chromium's own accessibility tree (not a re-implementation): the nodes with `role`. */
    async function accessible(
      role: string,
    ): Promise<{ name: string; description: string; properties: Record<string, unknown> }[]> {
      const cdp = await page.context().newCDPSession(page);
      try {
        const { nodes } = await cdp.send('Accessibility.getFullAXTree');
        return nodes
          .filter((node) => !node.ignored && node.role?.value === role)
          .map((node) => ({
            name: String(node.name?.value ?? ''),
            description: String(node.description?.value ?? ''),
            properties: Object.fromEntries(
              (node.properties ?? []).map((property) => [property.name, property.value.value]),
            ),
          }));
      } finally {
        await cdp.detach();
      }
    }

    it('stays closed while active, opens as an alertdialog on warning, labelled and described', async () => {
      await open();
      expect(await isOpen()).toBe(false);
      expect(await accessible('alertdialog')).toEqual([]);

      await inPage("fake.warn(90, { message: 'Payroll sessions end after 15 minutes idle.' })");
      expect(await isOpen()).toBe(true);
      const [dialog, ...others] = await accessible('alertdialog');
      expect(others).toEqual([]);
      expect(dialog?.name).toBe('Your session is about to end');
      expect(dialog?.description).toMatch(
        /^For your security, you will be signed out at \d{2}:\d{2} unless you stay signed in\. Payroll sessions end after 15 minutes idle\.$/,
      );
      expect(dialog?.properties.modal).toBe(true);
      expect(await inPage("probe.part('backdrop').getAttribute('aria-modal')")).toBe('true');
      // The ids resolve inside the shadow root to the title, the message and the rule's message.
      expect(
        await inPage(`(() => {
          const d = probe.part('backdrop'), root = probe.host().shadowRoot;
          const byIds = (attr) => d.getAttribute(attr).split(' ').map((id) => root.getElementById(id).getAttribute('part'));
          return [byIds('aria-labelledby'), byIds('aria-describedby')];
        })()`),
      ).toEqual([['title'], ['message', 'policy']]);
      expect(await visible('Payroll sessions end after 15 minutes idle.')).toBe(true);
      expect(await focused()).toBe('stay');
      expect(await inPage("probe.text('stay')")).toBe('Stay signed in');
      expect(await inPage("probe.text('countdown')")).toBe('01:30');
      // The page behind is inert: nothing there can take focus.
      expect(await inPage("(document.getElementById('before').focus(), probe.focused())")).toBe(
        'stay',
      );
    });

    it('keeps Tab and Shift+Tab inside the dialog', async () => {
      await open();
      await inPage('fake.warn(90)');
      const seen: (string | null)[] = [];
      for (const key of ['Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
        await page.keyboard.press(key);
        seen.push(await focused());
      }
      expect(seen).toEqual(['sign-out', 'stay', 'sign-out', 'stay', 'sign-out', 'stay']);
    });

    it('does not close on Escape; Escape brings focus back to "Stay signed in"', async () => {
      await open();
      await inPage('fake.warn(90)');
      await page.keyboard.press('Tab');
      expect(await focused()).toBe('sign-out');
      for (let i = 0; i < 3; i++) {
        await page.keyboard.press('Escape');
        expect(await isOpen()).toBe(true);
        expect(await focused()).toBe('stay');
      }
      await page.waitForTimeout(100);
      expect(await isOpen()).toBe(true);
      expect(await calls()).toEqual([]);
    });

    it('announces politely on opening and at 60, 30 and 10 seconds, not every second', async () => {
      await page.clock.install();
      await page.goto(origin);
      expect(await inPage("probe.part('status').getAttribute('aria-live')")).toBe('polite');
      expect(await inPage("probe.part('countdown').getAttribute('aria-hidden')")).toBe('true');
      expect(await inPage("probe.part('countdown').closest('[aria-live]')")).toBeNull();

      const countdown: string[] = [];
      for (let seconds = 75; seconds >= 0; seconds--) {
        await inPage(`fake.warn(${seconds})`);
        countdown.push(await inPage<string>("probe.text('countdown')"));
        await page.clock.runFor(1000);
      }
      expect(await inPage('probe.announcements')).toEqual([
        'You will be signed out in 1 minute 15 seconds.',
        'You will be signed out in 1 minute.',
        'You will be signed out in 30 seconds.',
        'You will be signed out in 10 seconds.',
      ]);
      // The visible countdown, on the other hand, moves every second.
      expect(countdown).toHaveLength(76);
      expect(new Set(countdown).size).toBe(76);
      expect(countdown.slice(0, 2)).toEqual(['01:15', '01:14']);
      expect(countdown.at(-1)).toBe('00:00');
    });

    it('"Stay signed in" extends; the dialog closes when the client is active again and focus returns', async () => {
      await open();
      await inPage('fake.warn(90)');
      await page.getByRole('button', { name: 'Stay signed in' }).click();
      expect(await calls()).toEqual(['extend']);
      expect(await isOpen()).toBe(true);
      await inPage("fake.emit({ phase: 'active', remainingSeconds: 900, endsAt: 1e12 + 1 })");
      expect(await isOpen()).toBe(false);
      expect(await accessible('alertdialog')).toEqual([]);
      expect(await focused()).toBe('before');
    });

    it('holds "Stay signed in" (aria-disabled, still focused) while extending, and ignores a second press', async () => {
      await open();
      await inPage("fake.extendOutcome = 'hold'; fake.warn(90)");
      const ariaDisabled = (): Promise<string | null> =>
        inPage("probe.part('stay').getAttribute('aria-disabled')");
      await page.keyboard.press('Enter');
      expect(await ariaDisabled()).toBe('true');
      expect(await focused()).toBe('stay');
      await page.keyboard.press('Enter');
      expect(await calls()).toEqual(['extend']);
      await inPage('fake.release()');
      await expect.poll(ariaDisabled).toBeNull();
      expect(await focused()).toBe('stay');
    });

    it('says and shows a short error when extending fails, and stays open', async () => {
      await open();
      await inPage("fake.extendOutcome = 'reject'; fake.warn(90)");
      await page.getByRole('button', { name: 'Stay signed in' }).click();
      await expect
        .poll(() => inPage("probe.text('status')"))
        .toBe('Could not keep you signed in. Try again.');
      expect(await visible('Could not keep you signed in. Try again.')).toBe(true);
      expect(await isOpen()).toBe(true);
    });

    it('says honestly when only the absolute deadline is left: end time, no "Stay signed in"', async () => {
      await page.clock.setFixedTime(new Date(2030, 0, 15, 16, 58, 30));
      await open();
      await inPage(
        "fake.warn(90, { canExtend: false, endsBy: 'absolute', endsAt: 2e12, message: 'Sign in again every 8 hours.' })",
      );
      const [dialog] = await accessible('alertdialog');
      expect(dialog?.description).toBe(
        'Your session ends at 17:00. Sign in again to continue. Sign in again every 8 hours.',
      );
      expect(await visible('Your session ends at 17:00. Sign in again to continue.')).toBe(true);
      expect(await buttons('Stay signed in')).toBe(0);
      expect(await focused()).toBe('dismiss');
      const seen: (string | null)[] = [];
      for (const key of ['Tab', 'Tab', 'Shift+Tab']) {
        await page.keyboard.press(key);
        seen.push(await focused());
      }
      expect(seen).toEqual(['sign-out', 'dismiss', 'sign-out']);

      // "OK" closes it for this deadline, for good; focus goes back.
      await page.getByRole('button', { name: 'OK' }).click();
      expect(await isOpen()).toBe(false);
      expect(await focused()).toBe('before');
      await inPage('fake.warn(60, { canExtend: false }); fake.warn(10, { canExtend: false })');
      expect(await isOpen()).toBe(false);
      expect(await calls()).toEqual([]);
    });

    it('moves focus off "Stay signed in" when the open warning stops being extendable', async () => {
      await open();
      await inPage('fake.warn(90)');
      expect(await focused()).toBe('stay');
      await inPage("fake.warn(89, { canExtend: false, endsBy: 'absolute' })");
      expect(await focused()).toBe('dismiss');
      expect(await buttons('Stay signed in')).toBe(0);
      expect(
        await visible(/^Your session ends at \d{2}:\d{2}\. Sign in again to continue\.$/),
      ).toBe(true);
    });

    it('works from the keyboard alone: Enter on "Stay signed in", Space on "Sign out"', async () => {
      await open();
      await inPage('fake.warn(90)');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Space');
      expect(await calls()).toEqual(['extend', 'signOut']);
    });

    it('closes when the session ends, and unsubscribes when removed from the page', async () => {
      await open();
      await inPage('fake.warn(5)');
      await inPage("fake.emit({ phase: 'ended', remainingSeconds: 0, endReason: 'idle' })");
      expect(await isOpen()).toBe(false);
      await inPage('fake.warn(90)');
      expect(await isOpen()).toBe(true);
      expect(await inPage('fake.listeners.size')).toBe(1);
      await inPage('window.removed = probe.host(); removed.remove()');
      expect(await inPage('fake.listeners.size')).toBe(0);
      expect(await inPage("removed.shadowRoot.querySelector('dialog').open")).toBe(false);
      expect(await focused()).toBe('before');
    });

    it('takes a client set before the element was defined', async () => {
      await open('/?upgrade');
      await inPage('fake.warn(90)');
      expect(await isOpen()).toBe(true);
      expect(await inPage('probe.host().client === fake')).toBe(true);
    });

    it('has no axe-core violations when open, looking inside the shadow root', async () => {
      await page.emulateMedia({ reducedMotion: 'reduce' });
      await open();
      await inPage("fake.warn(90, { message: 'Payroll sessions end after 15 minutes idle.' })");
      await page.addScriptTag({ path: AXE });
      const result = await inPage<{ violations: unknown[]; shadowPasses: string[] }>(`
        axe.run(document).then((r) => ({
          violations: r.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) })),
          shadowPasses: r.passes.filter((p) => p.nodes.some((n) => Array.isArray(n.target[0]))).map((p) => p.id),
        }))`);
      expect(result.violations).toEqual([]);
      // Rules that could only pass by looking into the shadow root did pass.
      expect(result.shadowPasses).toEqual(
        expect.arrayContaining(['aria-dialog-name', 'button-name', 'color-contrast']),
      );
    });

    it('can be restyled with custom properties and ::part()', async () => {
      await open();
      await page.addStyleTag({
        content:
          'lapse-warning{--lapse-warning-bg: rgb(1, 2, 3); --lapse-warning-accent: rgb(200, 0, 0)}' +
          'lapse-warning::part(title){text-transform: uppercase}',
      });
      await inPage('fake.warn(90)');
      const style = (part: string, property: string): Promise<string> =>
        inPage(`getComputedStyle(probe.part('${part}')).${property}`);
      expect(await style('dialog', 'backgroundColor')).toBe('rgb(1, 2, 3)');
      expect(await style('stay', 'backgroundColor')).toBe('rgb(200, 0, 0)');
      expect(await style('title', 'textTransform')).toBe('uppercase');
    });

    it('animates only without prefers-reduced-motion', async () => {
      await page.emulateMedia({ reducedMotion: 'reduce' });
      await open();
      await inPage('fake.warn(90)');
      const animation = "getComputedStyle(probe.part('dialog')).animationName";
      expect(await inPage(animation)).toBe('none');
      await page.emulateMedia({ reducedMotion: 'no-preference' });
      expect(await inPage(animation)).toBe('lapse-in');
    });

    it('takes strings from data-* attributes, and the strings property over them', async () => {
      await open();
      await inPage(
        "probe.host().setAttribute('data-stay-label', 'Keep me in'); probe.host().dataset.title = 'Still there?'; fake.warn(90)",
      );
      expect((await accessible('alertdialog'))[0]?.name).toBe('Still there?');
      expect(await focused()).toBe('stay');
      expect(await buttons('Keep me in')).toBe(1);
      await inPage("probe.host().strings = { stayLabel: 'Yes, stay' }");
      expect(await buttons('Yes, stay')).toBe(1);
      await inPage("probe.host().setAttribute('data-sign-out-label', 'Log out')");
      expect(await buttons('Log out')).toBe(1);
      expect(await buttons('Yes, stay')).toBe(1);
    });

    it('defines a custom tag name, and defining twice is harmless', async () => {
      await open();
      expect(
        await inPage(`(() => {
          LapseWarning.defineLapseWarning();
          LapseWarning.defineLapseWarning('acme-warning');
          LapseWarning.defineLapseWarning('acme-warning');
          return document.createElement('acme-warning') instanceof LapseWarning.LapseWarningElement;
        })()`),
      ).toBe(true);
    });

    it('lapse/react: useLapse re-renders on every snapshot; <LapseWarning> wires the element to window.lapse', async () => {
      await page.goto(`${origin}/react`);
      const text = (selector: string) => () => page.locator(selector).textContent();
      await expect.poll(text('#explicit')).toBe('active 600');
      await expect.poll(text('#global')).toBe('active 600');
      await inPage('fake.emit({ remainingSeconds: 599 })');
      await expect.poll(text('#explicit')).toBe('active 599');
      await inPage('fake.emit({ remainingSeconds: 598 })');
      await expect.poll(text('#explicit')).toBe('active 598');
      await inPage('fake.warn(90)');
      await expect.poll(text('#global')).toBe('warning 90');
      expect(await isOpen()).toBe(true);
      expect(await focused()).toBe('stay');
      expect(await inPage("probe.text('stay')")).toBe('Keep going');
      await inPage("fake.emit({ phase: 'active', remainingSeconds: 900, endsAt: 5 })");
      expect(await isOpen()).toBe(false);
      await expect.poll(text('#explicit')).toBe('active 900');
    });
  },
);
