import { isLoopbackHost } from '../gateway/config/listen-address.js';

/** Whether a listen address only accepts connections from this machine (`127.0.0.0/8`, `::1`, `localhost`). */
export const isLoopbackAddress: (host: string) => boolean = isLoopbackHost;

/**
 * Whether a `Host` header names this machine by a loopback name or address
 * (with or without a port). A page on another site that rebinds its own name
 * to 127.0.0.1 still sends its own name: refusing it defeats DNS rebinding.
 */
export function isLoopbackHostHeader(hostHeader: string | undefined): boolean {
  if (hostHeader === undefined || hostHeader.length === 0) return false;
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(hostHeader.trim());
  if (match === null || Number(match[3] ?? 0) > 65_535) return false;
  return isLoopbackHost((match[1] ?? match[2]) as string);
}
