import type { SessionAuthority } from '../session/authority.js';
import type { RejectReason } from '../session/types.js';

/** Told that a session ended, by its store key and why. */
export type SessionEndListener = (idHash: string, reason: RejectReason) => void;

/**
 * Hear of every way a session ends that the gateway must act on at once (its
 * open WebSockets and streaming responses closed): a revocation through any
 * instance sharing the store, one through this authority, a rotation (the
 * retired id), and an expiry noticed by a request or the sweep. Returns a
 * function that stops listening.
 */
export function onSessionEnds(
  authority: Pick<SessionAuthority, 'on' | 'store'>,
  listener: SessionEndListener,
): () => void {
  const stops = [
    authority.store.onRevoke(({ idHash }) => listener(idHash, 'revoked')),
    authority.on('revoke', ({ record }) => listener(record.idHash, 'revoked')),
    authority.on('rotate', ({ retired }) => listener(retired.idHash, 'revoked')),
    authority.on('expire', ({ record, reason }) => listener(record.idHash, reason)),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
