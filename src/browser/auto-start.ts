/**
 * The entry of the script the gateway serves at `/_lapse/client.js`: reads
 * its own tag's `data-login-url` (and optional `data-base-path`), starts the
 * client as `window.lapse`, and shows `<lapse-warning>` wired to it. Inside a
 * frame it only reports activity to the parent page, which runs the client.
 *
 * @example
 * <script src="/_lapse/client.js" data-login-url="/login" defer></script>
 */
import { createLapseClient, type LapseClient } from './client.js';
import { startIframeBridge } from './iframe-bridge.js';
import { defineLapseWarning } from './lapse-warning.js';

declare global {
  interface Window {
    /** The client the served `/_lapse/client.js` started. */
    lapse?: LapseClient;
  }
}

/**
 * Starts the SDK in `win` as configured by `script`'s data attributes.
 * Returns the client, or `undefined` in a frame (or if one already runs).
 *
 * @example
 * import { autoStart } from './auto-start.js';
 * autoStart(window, document.currentScript);
 */
export function autoStart(win: Window, script: Element | null): LapseClient | undefined {
  if (win.parent !== win) {
    startIframeBridge(win);
    return undefined;
  }
  if (win.lapse) return undefined;
  const client = createLapseClient({
    window: win,
    loginUrl: script?.getAttribute('data-login-url') || '/login',
    basePath: script?.getAttribute('data-base-path') || '',
  });
  win.lapse = client;
  client.start();
  const doc = win.document;
  const mount = (): void => {
    if (!win.customElements.get('lapse-warning')) defineLapseWarning();
    let warning = doc.querySelector('lapse-warning');
    if (!warning) {
      warning = doc.createElement('lapse-warning');
      doc.body.appendChild(warning);
    }
    warning.client = client;
  };
  if (doc.body) mount();
  else doc.addEventListener('DOMContentLoaded', mount);
  return client;
}

if (typeof window !== 'undefined') autoStart(window, document.currentScript);
