import { isIPv4, isIPv6 } from 'node:net';

/**
 * Where a listener binds: `host` as `server.listen` takes it (an IPv6 address
 * without brackets), and a port from 0 to 65535 (0: any free port, for tests).
 */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** A DNS name: labels of letters, digits and inner hyphens. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Something that only an IPv4 address looks like: digits and dots. */
const IPV4_LIKE = /^[0-9.]+$/;

/**
 * Whether `host` is an IP address or a host name (no port, no brackets). A
 * string of digits and dots must be a valid IPv4 address.
 */
export function isHost(host: string): boolean {
  if (isIPv6(host)) return true;
  if (IPV4_LIKE.test(host)) return isIPv4(host);
  return HOSTNAME.test(host);
}

/** Why a listen address is wrong, as the end of a message about it. */
export const LISTEN_FORM = 'must be host:port, such as 127.0.0.1:8080 or [::1]:8080';

/**
 * Parse `host:port` (`127.0.0.1:8080`, `localhost:8080`, `[::1]:8080`,
 * `0.0.0.0:8080`); `undefined` when it is not one.
 *
 * @example
 * import { parseListenAddress } from 'lapse/gateway';
 * parseListenAddress('[::1]:7778'); // { host: '::1', port: 7778 }
 */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  if (match === null) return undefined;
  const [, bracketed, plain, portText] = match;
  const port = Number(portText);
  if (port > 65_535) return undefined;
  if (bracketed !== undefined) return isIPv6(bracketed) ? { host: bracketed, port } : undefined;
  if (plain === undefined || !isHost(plain)) return undefined;
  return { host: plain, port };
}

/**
 * Whether only this machine can reach a listener on `host`: `localhost`, an
 * address in 127.0.0.0/8, or `::1` (also as an IPv4-mapped 127 address).
 * `0.0.0.0`, `::` and every other name or address are reachable from outside.
 *
 * @example
 * import { isLoopbackHost } from 'lapse/gateway';
 * isLoopbackHost('127.0.0.1'); // true
 * isLoopbackHost('0.0.0.0');   // false
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost') return true;
  if (isIPv4(name)) return name.startsWith('127.');
  if (!isIPv6(name)) return false;
  // The URL parser writes an IPv6 address in its one canonical form.
  let canonical: string;
  try {
    canonical = new URL(`http://[${name}]/`).hostname;
  } catch {
    return false; // a zone id (fe80::1%eth0): a link, not loopback
  }
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

/**
 * `host:port` again, with brackets around an IPv6 address.
 *
 * @example
 * import { formatListenAddress } from 'lapse/gateway';
 * formatListenAddress({ host: '::1', port: 7778 }); // '[::1]:7778'
 */
export function formatListenAddress({ host, port }: ListenAddress): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}
