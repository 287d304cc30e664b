// Load generators and what they measured. autocannon keeps its latency
// histogram in whole milliseconds, which is too coarse for a loopback proxy
// (most answers take well under 1 ms): every response's own latency (µs
// precision, from autocannon's 'response' event) is collected here instead,
// and the percentiles are computed exactly from all of them.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

/** A growable array of latencies, ms. */
export class Samples {
  #values = new Float64Array(1 << 16);
  #length = 0;

  push(value) {
    if (this.#length === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#length++] = value;
  }

  /** Add all of `other`'s values. */
  append(other) {
    for (let i = 0; i < other.#length; i++) this.push(other.#values[i]);
  }

  get length() {
    return this.#length;
  }

  /** p50, p90, p99, p99.9, max and mean, ms (nearest-rank percentiles). */
  summary() {
    const sorted = this.#values.slice(0, this.#length).sort();
    const n = sorted.length;
    const at = (p) => (n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.ceil(p * n) - 1)]);
    let sum = 0;
    for (const value of sorted) sum += value;
    return {
      count: n,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      p999: at(0.999),
      max: n === 0 ? Number.NaN : sorted[n - 1],
      mean: n === 0 ? Number.NaN : sum / n,
    };
  }
}

/**
 * One autocannon run. `options`: url, headers, connections, seconds, and
 * overallRate (requests per second over all connections) or none (as fast as
 * the target answers); `latencies`: a {@link Samples} to add this run's 2xx
 * latencies to (several runs can share one). Resolves with counts, rate,
 * latency percentiles (ms, 2xx only, like autocannon, of all the `latencies`
 * so far) and the status codes seen.
 */
export async function cannon({
  url,
  headers = {},
  connections,
  seconds,
  overallRate,
  latencies = new Samples(),
}) {
  const statusCodes = {};
  let bytes = 0;
  const tracker = autocannon({
    url,
    headers,
    connections,
    pipelining: 1,
    duration: seconds,
    ...(overallRate === undefined ? {} : { overallRate }),
  });
  tracker.on('response', (_client, statusCode, responseBytes, responseTimeMs) => {
    statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs);
    bytes += responseBytes;
  });
  const started = performance.now();
  const result = await tracker;
  const measuredSeconds = (performance.now() - started) / 1000;
  const responses = Object.values(statusCodes).reduce((sum, n) => sum + n, 0);
  return {
    requestsPerSecond: responses / measuredSeconds,
    responses,
    measuredSeconds,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    bytesPerResponse: responses === 0 ? 0 : bytes / responses,
    latencyMs: latencies.summary(),
    autocannonLatencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
  };
}

/**
 * An evenly paced load: `rate` requests per second, each sent at its own
 * scheduled instant (open loop) over a keep-alive pool of `connections`
 * node:http sockets, for `seconds`. Latency is from the send to the end of the
 * response body, so a request that waits for a free socket counts its wait.
 */
export function paced({
  url,
  headers = {},
  rate,
  connections,
  seconds,
  latencies = new Samples(),
}) {
  // FIFO: every socket of the pool is used in turn, none sits idle long enough for
  // the server's keep-alive timeout to close it just as a request is written on it.
  const agent = new Agent({ keepAlive: true, maxSockets: connections, scheduling: 'fifo' });
  const { hostname, port, pathname } = new URL(url);
  const statusCodes = {};
  let errors = 0;
  let firstError;
  const total = Math.round(rate * seconds);
  let sent = 0;
  let settled = 0;
  let maxBehindMs = 0;
  return new Promise((resolve) => {
    const startedAt = performance.now();
    const finish = () => {
      if (settled < total) return;
      agent.destroy();
      const elapsed = (performance.now() - startedAt) / 1000;
      resolve({
        requestsPerSecond: latencies.length / elapsed,
        responses: settled - errors,
        measuredSeconds: elapsed,
        non2xx: Object.entries(statusCodes)
          .filter(([code]) => !code.startsWith('2'))
          .reduce((sum, [, n]) => sum + n, 0),
        errors,
        timeouts: 0,
        statusCodes,
        latencyMs: latencies.summary(),
        maxSendDelayMs: maxBehindMs,
        ...(firstError === undefined ? {} : { firstError }),
      });
    };
    const sendOne = () => {
      const sentAt = performance.now();
      const req = request({ agent, hostname, port, path: pathname, headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          statusCodes[res.statusCode] = (statusCodes[res.statusCode] ?? 0) + 1;
          if (res.statusCode >= 200 && res.statusCode < 300) {
            latencies.push(performance.now() - sentAt);
          }
          settled++;
          finish();
        });
      });
      req.on('error', (error) => {
        firstError ??= `${error.code ?? ''} ${error.message}`.trim();
        errors++;
        settled++;
        finish();
      });
      req.end();
    };
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - startedAt) * rate) / 1000) + 1);
      if (sent < due) {
        // How late the oldest request now being sent is against its own instant.
        maxBehindMs = Math.max(maxBehindMs, now - startedAt - (sent * 1000) / rate);
      }
      while (sent < due) {
        sendOne();
        sent++;
      }
      if (sent < total) setTimeout(tick, Math.max(0, (sent * 1000) / rate - (now - startedAt)));
    };
    tick();
  });
}
