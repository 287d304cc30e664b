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

// Hand-minified: it ships in every page that uses the SDK. `--a` is the accent, `--r` the radius;
// `dialog>div` is the `dialog` part (the visible box).
const CSS =
  ':host{--a:var(--lapse-warning-accent,#1d4ed8);--r:var(--lapse-warning-radius,.5rem)}' +
  'dialog{inset:0;width:auto;height:auto;max-width:none;max-height:none;margin:0;padding:1rem;border:0;background:var(--lapse-warning-backdrop,#0009)}' +
  'dialog[open]{display:grid}dialog::backdrop{background:none}' +
  'dialog>div{margin:auto;max-width:28rem;padding:1.5rem;border:2px solid #0000;border-radius:var(--r);background:var(--lapse-warning-bg,#fff);color:var(--lapse-warning-fg,#222);font:var(--lapse-warning-font,1rem/1.5 system-ui,sans-serif);box-shadow:0 .5rem 2rem #0006}' +
  'h2{margin:0 0 .5rem;font-size:1.25em}p{margin:0 0 1rem}[part=countdown]{font-size:2em;font-weight:700}' +
  '[aria-live]{color:var(--lapse-warning-error,#b91c1c)}' +
  '[aria-live]:not([data-error]){position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}' +
  '[part=actions]{display:flex;flex-wrap:wrap;gap:.75rem}' +
  'button{font:inherit;padding:.5rem 1rem;border:2px solid var(--a);border-radius:var(--r);background:var(--a);color:var(--lapse-warning-accent-fg,#fff);cursor:pointer}' +
  '[part=sign-out]{background:none;color:var(--a)}' +
  ':focus-visible{outline:3px solid var(--lapse-warning-focus,var(--a));outline-offset:2px}[hidden]{display:none!important}' +
  '@media (prefers-reduced-motion:no-preference){dialog>div{animation:lapse-in .2s}}@keyframes lapse-in{from{opacity:0}}';

// The dialog element is the full-screen backdrop (a real element, so it can be a part);
// the visible box inside it is the `dialog` part. End tags the HTML parser implies are left out.
const HTML =
  '<dialog part=backdrop role=alertdialog aria-modal=true aria-labelledby=t aria-describedby="m p">' +
  '<div part=dialog><h2 id=t part=title></h2><p id=m part=message><p id=p part=policy>' +
  '<p part=countdown aria-hidden=true><p part=status aria-live=polite><div part=actions>' +
  '<button part=stay></button><button part=dismiss></button><button part=sign-out>';

type E = HTMLElement;
/** The parts after `backdrop`, in document order. */
type Parts = [E, E, E, E, E, E, E, E, E, E];

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
  /** Shows `snapshot` (default: the client's): open exactly while in phase `warning`. Set by the constructor. */
  #update: (snapshot?: LapseSnapshot) => void;

  constructor() {
    super();
    // The state and the parts live in this closure: it minifies far better than fields.
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${CSS}</style>${HTML}`;
    // The parts in document order (the `dialog` box and the `actions` row need no handle).
    const [backdrop, , title, message, policy, countdown, status, , stay, dismiss, signOut] =
      root.querySelectorAll('[part]') as unknown as [HTMLDialogElement, ...Parts];
    /** Seconds left at the previous update while open, to notice thresholds being crossed. */
    let lastSeconds = 0;
    /** The server deadline the shown clock time belongs to, and that time on this device's clock. */
    let endsAt = 0;
    let localEndsAt = 0;
    /** The deadline whose warning was closed with "OK" (only offered when it cannot be extended). */
    let dismissedEndsAt = 0;
    let returnFocusTo: HTMLElement | null = null;
    let sayTimer: ReturnType<typeof setTimeout> | undefined;

    const text = (): WarningStrings => {
      const text = { ...defaultWarningStrings };
      for (const key of KEYS) text[key] = this.#strings[key] ?? this.dataset[key] ?? text[key];
      return text;
    };
    const buttons = (): HTMLElement[] => [
      ...root.querySelectorAll<HTMLElement>('button:not([hidden])'),
    ];
    /** The main action is the first button shown: "Stay signed in", or "OK" when staying cannot help. */
    const focusPrimary = (): void => buttons()[0]?.focus();

    /**
     * Says `message` through the polite live region. Emptied first and filled a moment later,
     * so a region that has just appeared, or a repeated message, is still announced.
     */
    const say = (message: string, isError = false): void => {
      status.textContent = '';
      status.toggleAttribute('data-error', isError);
      clearTimeout(sayTimer);
      sayTimer = setTimeout(() => {
        status.textContent = message;
      }, 150);
    };

    const update = (snapshot: LapseSnapshot | undefined = this.#client?.snapshot): void => {
      if (
        !this.isConnected ||
        snapshot?.phase !== 'warning' ||
        snapshot.endsAt === dismissedEndsAt
      ) {
        if (backdrop.open) {
          backdrop.close();
          clearTimeout(sayTimer);
          returnFocusTo?.focus(); // a no-op if it has left the page
          returnFocusTo = null;
        }
        return;
      }
      const seconds = snapshot.remainingSeconds;
      const canExtend = snapshot.canExtend;
      if (snapshot.endsAt !== endsAt) {
        // Shown as a time on THIS device's clock: the server's deadline, skew-corrected.
        endsAt = snapshot.endsAt;
        localEndsAt = Date.now() + seconds * 1000;
      }
      const strings = text();
      const locale = (this.closest('[lang]') as HTMLElement | null)?.lang || undefined;
      const fill = (template: string): string =>
        fillWarningString(template, seconds, localEndsAt, locale);
      title.textContent = strings.title;
      message.textContent = fill(canExtend ? strings.message : strings.endMessage);
      policy.textContent = snapshot.message ?? '';
      countdown.textContent = formatCountdown(seconds);
      stay.textContent = strings.stayLabel;
      dismiss.textContent = strings.dismissLabel;
      signOut.textContent = strings.signOutLabel;
      policy.hidden = !snapshot.message;
      stay.hidden = !canExtend;
      dismiss.hidden = canExtend;
      const isOpening = !backdrop.open;
      if (isOpening) {
        let active = document.activeElement;
        while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
        returnFocusTo = active as HTMLElement | null;
        backdrop.showModal();
      }
      // On opening, and when the focused button was just hidden: the main action.
      const focused = root.activeElement as HTMLElement | null;
      if (isOpening || !focused || focused.hidden) focusPrimary();
      if (isOpening || THRESHOLDS.some((t) => lastSeconds > t && seconds <= t)) {
        say(fill(strings.announcement));
      }
      lastSeconds = seconds;
    };
    this.#update = update;

    stay.onclick = async () => {
      const client = this.#client;
      // aria-disabled rather than disabled: the button keeps focus while the request runs.
      // It is also the "already extending" flag.
      if (!client || stay.ariaDisabled) return;
      stay.ariaDisabled = 'true';
      try {
        await client.extend();
      } catch {
        say(text().extendFailed, true);
      } finally {
        stay.ariaDisabled = null;
      }
    };
    dismiss.onclick = () => {
      dismissedEndsAt = endsAt;
      update();
    };
    signOut.onclick = () => this.#client?.signOut().catch(() => say(text().signOutFailed, true));
    // Escape never dismisses silently: it is a close request we refuse, and it brings focus
    // back to the main action. Tab is handled here too so focus cycles instead of leaving
    // for the browser's own controls.
    backdrop.oncancel = (event) => event.preventDefault();
    backdrop.onkeydown = (event) => {
      const isTab = event.key === 'Tab';
      if (!isTab && event.key !== 'Escape') return;
      event.preventDefault();
      const shown = buttons();
      const i = shown.indexOf(root.activeElement as HTMLElement);
      const n = shown.length;
      // Tab cycles through the buttons; Escape (or Tab from elsewhere) goes to the main action.
      shown[isTab && i >= 0 ? (i + (event.shiftKey ? n - 1 : 1)) % n : 0]?.focus();
    };
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
    this.#unsubscribe = this.isConnected
      ? this.#client?.subscribe((snapshot) => this.#update(snapshot))
      : undefined;
    this.#update();
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
