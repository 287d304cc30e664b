/**
 * `lapse/browser`: the browser SDK. No dependencies, no secrets: it never sees
 * the session id (an HttpOnly cookie), only the passive status the server
 * gives every page. The gateway serves it ready to run at `/_lapse/client.js`;
 * import it from here to start it yourself (a bundled app, a custom element
 * name, tests).
 *
 * @example
 * import { createLapseClient, defineLapseWarning } from 'lapse/browser';
 * const lapse = createLapseClient({ loginUrl: '/login' });
 * lapse.start();
 * defineLapseWarning();
 * const warning = document.createElement('lapse-warning');
 * warning.client = lapse;
 * document.body.append(warning);
 */

export {
  createLapseClient,
  type FetchResponseLike,
  type LapseClient,
  type LapseClientOptions,
} from './client.js';
export { defineLapseWarning, LapseWarningElement } from './lapse-warning.js';
export type { LeaderElection, LeaderEvent } from './leader-election.js';
export { heartbeatIntervalMs, snapshotAt } from './snapshot.js';
export type { TabChannel, TabMessage } from './tab-channel.js';
export type {
  EndReason,
  LapseClientLike,
  LapsePhase,
  LapseSnapshot,
  StatusBody,
} from './types.js';
export type { WarningStrings } from './warning-strings.js';
