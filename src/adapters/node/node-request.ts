import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRequestLike } from '../../http/http-request.js';
import type { HttpResponseSpec } from '../../http/rejection.js';
import type { HeaderSink } from '../../http/request-session.js';

/** A node:http request as the framework-neutral step reads it; `url` may be overridden (Express's `originalUrl`). */
export function nodeRequest(req: IncomingMessage, url: string = req.url ?? '/'): HttpRequestLike {
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    url,
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** Response headers written straight to a node:http response. */
export function nodeHeaderSink(res: ServerResponse): HeaderSink {
  return {
    set: (name, value) => {
      if (!res.headersSent) res.setHeader(name, value);
    },
    append: (name, value) => {
      if (!res.headersSent) res.appendHeader(name, value);
    },
  };
}

/** Send a response the HTTP layer decided on. */
export function sendNodeResponse(res: ServerResponse, response: HttpResponseSpec): void {
  res.statusCode = response.status;
  for (const [name, value] of response.headers) res.appendHeader(name, value);
  res.end(response.body);
}

/** What a request gets when lapse itself fails unexpectedly: a closed door, no details. */
export function sendInternalError(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendNodeResponse(res, {
    status: 500,
    headers: [
      ['Content-Type', 'application/json; charset=utf-8'],
      ['Cache-Control', 'no-store'],
    ],
    body: JSON.stringify({ error: 'internal_error' }),
  });
}
