/**
 * `<lapse-warning>`: the accessible "your session is about to end" dialog.
 *
 * A modal `<dialog role="alertdialog">` in a shadow root, opened with
 * `showModal()` so the browser itself traps focus, makes the page inert and
 * puts the dialog in the top layer. It is open exactly while the client's
 * snapshot is in phase `warning`. WCAG 2.2.1: the person is warned with at
 * least the policy's `warn` time left, can extend as often as the server
 * allows, and when only the absolute deadline is left the dialog says so
 * honestly instead of offering a button that cannot help.
 *
 * Restyle it with CSS custom properties on the element (`--lapse-warning-bg`,
 * `-fg`, `-accent`, `-accent-fg`, `-radius`, `-font`, `-backdrop`, `-focus`,
 * `-error`) or with `::part()` (`backdrop`, `dialog`, `title`, `message`,
 * `policy`, `countdown`, `status`, `actions`, `stay`, `dismiss`, `sign-out`);
 * sizes, spacing and shadow through `::part(dialog)`.
 *
 * @example
 * import { defineLapseWarning } from 'lapse/browser';
 * defineLapseWarning();
 * const warning = document.createElement('lapse-warning');
 * warning.client = lapse; // the client, or anything that is a LapseClientLike
 * document.body.append(warning);
 */

import type { LapseClientLike, LapseSnapshot } from './types.js';
import {
  defaultWarningStrings,
  fillWarningString,
  formatCountdown,
  type WarningStrings,
} from './warning-strings.js';

/** Seconds left at which the polite live region speaks (besides once on opening). */
const THRESHOLDS = [60, 30, 10];
const KEYS = Object.keys(defaultWarningStrings) as (keyof WarningStrings)[];

// Hand-minified: it ships in every page that uses the SDK.
const CSS =
  ':host{--a:var(--lapse-warning-accent,#1d4ed8)}' +
  'dialog{inset:0;width:auto;height:auto;max-width:none;max-height:none;margin:0;padding:1rem;border:0;background:var(--lapse-warning-backdrop,#0009)}' +
  'dialog[open]{display:grid;place-items:center}dialog::backdrop{background:none}' +
  '[part=dialog]{max-width:28rem;padding:1.5rem;border:2px solid transparent;border-radius:var(--lapse-warning-radius,.5rem);background:var(--lapse-warning-bg,#fff);color:var(--lapse-warning-fg,#222);font:var(--lapse-warning-font,1rem/1.5 system-ui,sans-serif);box-shadow:0 .5rem 2rem #0006}' +
  'h2{margin:0 0 .5rem;font-size:1.25em}p{margin:0 0 1rem}[part=countdown]{font-size:2em;font-weight:700}' +
  '[part=status]{color:var(--lapse-warning-error,#b91c1c)}' +
  '[part=status]:not([data-error]){position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}' +
  '[part=actions]{display:flex;flex-wrap:wrap;gap:.75rem}' +
  'button{font:inherit;padding:.5rem 1rem;border:2px solid var(--a);border-radius:var(--lapse-warning-radius,.5rem);background:none;color:var(--a);cursor:pointer}' +
  'button:not([part=sign-out]){background:var(--a);color:var(--lapse-warning-accent-fg,#fff)}' +
  'button:focus-visible{outline:3px solid var(--lapse-warning-focus,var(--a));outline-offset:2px}[hidden]{display:none!important}' +
  '@media (prefers-reduced-motion:no-preference){[part=dialog]{animation:lapse-in .2s}}@keyframes lapse-in{from{opacity:0}}';

// The dialog element is the full-screen backdrop (a real element, so it can be a part);
// the visible box inside it is the `dialog` part.
const HTML =
  '<dialog part=backdrop role=alertdialog aria-modal=true aria-labelledby=t aria-describedby="m p">' +
  '<div part=dialog><h2 id=t part=title></h2><p id=m part=message></p><p id=p part=policy></p>' +
  '<p part=countdown aria-hidden=true></p><p part=status aria-live=polite></p><div part=actions>' +
  '<button part=stay></button><button part=dismiss></button><button part=sign-out></button></div></div></dialog>';

// `extends HTMLElement` must not throw where there is no DOM (server rendering imports this module).
const Base = (typeof HTMLElement === 'undefined' ? class {} : HTMLElement) as typeof HTMLElement;

/**
 * The warning element. Give it a client; it subscribes while connected.
 * Strings resolve as: the `strings` property, else a `data-*` attribute
 * (`data-title`, `data-stay-label`, `data-sign-out-label`, ...), else English.
 *
 * @example
 * import { defineLapseWarning } from 'lapse/browser';
 * defineLapseWarning();
 * const warning = document.querySelector('lapse-warning');
 * warning.client = lapse;
 * warning.strings = { title: 'Sitzung läuft ab', stayLabel: 'Angemeldet bleiben' };
 */
export class LapseWarningElement extends Base {
  /** The `data-*` attributes that override strings, one per key of `WarningStrings`. */
  static readonly observedAttributes = KEYS.map(
    (key) => `data-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  );

  #client: LapseClientLike | null = null;
  #strings: Partial<WarningStrings> = {};
  #unsubscribe: (() => void) | undefined;
  #root = this.attachShadow({ mode: 'open' });
  #dialog: HTMLDialogElement;
  #parts: Record<string, HTMLElement> = {};
  /** Seconds left at the previous update while open, to notice thresholds being crossed. */
  #lastSeconds = 0;
  /** The server deadline the shown clock time belongs to, and that time on this device's clock. */
  #endsAt = 0;
  #localEndsAt = 0;
  /** The deadline whose warning was closed with "OK" (only offered when it cannot be extended). */
  #dismissedEndsAt = 0;
  #returnFocusTo: HTMLElement | null = null;
  #isExtending = false;
  #sayTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.#root.innerHTML = `<style>${CSS}</style>${HTML}`;
    this.#dialog = this.#root.querySelector('dialog') as HTMLDialogElement;
    for (const el of this.#root.querySelectorAll<HTMLElement>('[part]')) {
      this.#parts[el.getAttribute('part') as string] = el;
    }
    this.#part('stay').onclick = () => this.#extend();
    this.#part('dismiss').onclick = () => {
      this.#dismissedEndsAt = this.#endsAt;
      this.#update();
    };
    this.#part('sign-out').onclick = () =>
      this.#client?.signOut().catch(() => this.#say(this.#text().signOutFailed, true));
    // Escape never dismisses silently: it is a close request we refuse, and it brings focus
    // back to the main action. Tab is handled here too so focus cycles instead of leaving
    // for the browser's own controls.
    this.#dialog.addEventListener('cancel', (event) => event.preventDefault());
    this.#dialog.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        this.#primary().focus();
      } else if (event.key === 'Tab') {
        event.preventDefault();
        const buttons = [...this.#dialog.querySelectorAll<HTMLElement>('button:not([hidden])')];
        const i = buttons.indexOf(this.#root.activeElement as HTMLElement);
        const n = buttons.length;
        buttons[i < 0 ? 0 : (i + (event.shiftKey ? n - 1 : 1)) % n]?.focus();
      }
    });
  }

  /** The client whose snapshots open and close the warning; `null` detaches. */
  get client(): LapseClientLike | null {
    return this.#client;
  }

  set client(client: LapseClientLike | null) {
    if (client === this.#client) return;
    this.#client = client;
    this.#subscribe();
  }

  /** Overrides for some or all strings (English defaults for the rest). */
  get strings(): Partial<WarningStrings> {
    return this.#strings;
  }

  set strings(strings: Partial<WarningStrings> | null) {
    this.#strings = { ...strings };
    this.#update();
  }

  connectedCallback(): void {
    // A property set before the element was defined shadows the accessor; hand it over.
    for (const name of ['client', 'strings'] as const) {
      if (Object.hasOwn(this, name)) {
        const value = this[name];
        delete (this as Record<string, unknown>)[name];
        (this as Record<string, unknown>)[name] = value;
      }
    }
    this.#subscribe();
  }

  disconnectedCallback(): void {
    this.#subscribe();
  }

  attributeChangedCallback(): void {
    this.#update();
  }

  #subscribe(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    const client = this.#client;
    if (client && this.isConnected) {
      this.#unsubscribe = client.subscribe((snapshot) => this.#update(snapshot));
    }
    this.#update();
  }

  #part(name: string): HTMLElement {
    return this.#parts[name] as HTMLElement;
  }

  #primary(): HTMLElement {
    return this.#part(this.#part('stay').hidden ? 'dismiss' : 'stay');
  }

  #text(): WarningStrings {
    const text = { ...defaultWarningStrings };
    for (const key of KEYS) text[key] = this.#strings[key] ?? this.dataset[key] ?? text[key];
    return text;
  }

  #update(snapshot: LapseSnapshot | undefined = this.#client?.snapshot): void {
    const dialog = this.#dialog;
    if (
      !this.isConnected ||
      snapshot?.phase !== 'warning' ||
      snapshot.endsAt === this.#dismissedEndsAt
    ) {
      if (dialog.open) {
        dialog.close();
        clearTimeout(this.#sayTimer);
        if (this.#returnFocusTo?.isConnected) this.#returnFocusTo.focus();
        this.#returnFocusTo = null;
      }
      return;
    }
    const seconds = snapshot.remainingSeconds;
    if (snapshot.endsAt !== this.#endsAt) {
      // Shown as a time on THIS device's clock: the server's deadline, skew-corrected.
      this.#endsAt = snapshot.endsAt;
      this.#localEndsAt = Date.now() + seconds * 1000;
    }
    const text = this.#text();
    const locale = this.closest('[lang]')?.getAttribute('lang') || undefined;
    const fill = (template: string): string =>
      fillWarningString(template, seconds, this.#localEndsAt, locale);
    const set = (name: string, value: string): void => {
      this.#part(name).textContent = value;
    };
    set('title', text.title);
    set('message', fill(snapshot.canExtend ? text.message : text.endMessage));
    set('policy', snapshot.message ?? '');
    set('countdown', formatCountdown(seconds));
    set('stay', text.stayLabel);
    set('dismiss', text.dismissLabel);
    set('sign-out', text.signOutLabel);
    this.#part('policy').hidden = !snapshot.message;
    this.#part('stay').hidden = !snapshot.canExtend;
    this.#part('dismiss').hidden = snapshot.canExtend;
    const focused = this.#root.activeElement as HTMLElement | null;
    if (!dialog.open) {
      let active = document.activeElement;
      while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
      this.#returnFocusTo = active as HTMLElement | null;
      dialog.showModal();
      this.#primary().focus();
      this.#say(fill(text.announcement));
    } else {
      if (!focused || focused.hidden) this.#primary().focus();
      if (THRESHOLDS.some((t) => this.#lastSeconds > t && seconds <= t)) {
        this.#say(fill(text.announcement));
      }
    }
    this.#lastSeconds = seconds;
  }

  async #extend(): Promise<void> {
    const client = this.#client;
    const stay = this.#part('stay');
    // aria-disabled rather than disabled: the button keeps focus while the request runs.
    if (!client || this.#isExtending) return;
    this.#isExtending = true;
    stay.ariaDisabled = 'true';
    try {
      await client.extend();
    } catch {
      this.#say(this.#text().extendFailed, true);
    } finally {
      this.#isExtending = false;
      stay.ariaDisabled = null;
    }
  }

  /**
   * Says `message` through the polite live region. Emptied first and filled a moment later,
   * so a region that has just appeared, or a repeated message, is still announced.
   */
  #say(message: string, isError = false): void {
    const status = this.#part('status');
    status.textContent = '';
    status.toggleAttribute('data-error', isError);
    clearTimeout(this.#sayTimer);
    this.#sayTimer = setTimeout(() => {
      status.textContent = message;
    }, 150);
  }
}

/**
 * Registers `<lapse-warning>` (or `tagName`). Safe to call more than once, and
 * a no-op where there is no `customElements` (server rendering). If another
 * element already owns `tagName`, that one is kept.
 *
 * @example
 * import { defineLapseWarning } from 'lapse/browser';
 * defineLapseWarning(); // <lapse-warning>
 * defineLapseWarning('acme-session-warning');
 */
export function defineLapseWarning(tagName = 'lapse-warning'): void {
  if (typeof customElements !== 'undefined' && !customElements.get(tagName)) {
    // A fresh subclass per name: one constructor can be registered only once.
    customElements.define(tagName, class extends LapseWarningElement {});
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'lapse-warning': LapseWarningElement;
  }
}
