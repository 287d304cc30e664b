import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpResponseSpec } from '../http/rejection.js';

/**
 * Write a whole HTTP/1.1 response on a bare socket and close it: the answer
 * to an upgrade lapse refuses, or to a request Node's parser rejected, where
 * no `ServerResponse` exists.
 */
export function writeRawResponse(socket: Duplex, response: HttpResponseSpec): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = response.body ?? '';
  let head = `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? 'Error'}\r\n`;
  for (const [name, value] of response.headers) head += `${name}: ${value}\r\n`;
  head += `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  socket.end(head + body);
}
