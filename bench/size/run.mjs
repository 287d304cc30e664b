// npm run bench:size: how big is the browser SDK on the wire, and what does
// genuine activity cost it?
//
// 1. The served client (/_lapse/client.js: core + <lapse-warning>) and the
//    core alone (createLapseClient and what it needs), each bundled and
//    minified by esbuild, then gzip -9 and brotli -11 (what a server sends).
// 2. The CPU cost of 1,000 trusted pointer moves and 1,000 key presses in
//    Debian's Chromium: script time of a page with the SDK minus the same page
//    without it, both in the same run (CDP Input.dispatch* events are
//    trusted, unlike dispatchEvent(), which the SDK ignores by design).
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const REACT_IDLE_TIMER_GZIP = 6_600; // bundlephobia's figure for react-idle-timer 5.7, no UI

async function bundle(name, contents) {
  const result = await build({
    stdin: { contents, resolveDir: 'src/browser', loader: 'ts', sourcefile: `${name}.ts` },
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2022'],
    legalComments: 'none',
    write: false,
  });
  return Buffer.from(result.outputFiles[0].contents);
}

function sizes(code) {
  return {
    minified: code.length,
    gzip: gzipSync(code, { level: 9 }).length,
    brotli: brotliCompressSync(code, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11 },
    }).length,
  };
}

const served = existsSync('dist/browser/lapse-client.js')
  ? readFileSync('dist/browser/lapse-client.js')
  : await bundle('served', "import './auto-start.ts';");
const whole = sizes(served);
const core = sizes(
  await bundle(
    'core',
    "import { createLapseClient } from './client.ts'; globalThis.lapseCore = createLapseClient;",
  ),
);
const element = sizes(
  await bundle(
    'element',
    "import { defineLapseWarning } from './lapse-warning.ts'; defineLapseWarning();",
  ),
);

const kb = (bytes) => `${(bytes / 1024).toFixed(2)} KiB`;
console.log('\nBrowser SDK size (esbuild --minify, es2022)\n');
console.log('| bundle | minified | gzip -9 | brotli -11 |');
console.log('| --- | ---: | ---: | ---: |');
for (const [name, size] of [
  ['/_lapse/client.js (core + <lapse-warning>)', whole],
  ['core alone (createLapseClient)', core],
  ['<lapse-warning> + strings alone', element],
]) {
  console.log(`| ${name} | ${kb(size.minified)} | ${kb(size.gzip)} | ${kb(size.brotli)} |`);
}
console.log(
  `\nTarget: whole client under 6 KB gzipped (${whole.gzip} B: ${whole.gzip < 6_000 ? 'met' : 'NOT met'}); react-idle-timer ships ~${REACT_IDLE_TIMER_GZIP} B gzipped with no UI (ratio ${(whole.gzip / REACT_IDLE_TIMER_GZIP).toFixed(2)}).`,
);

// --- CPU cost of activity, in Chromium ---
if (!existsSync('/usr/bin/chromium')) {
  console.log('\n/usr/bin/chromium missing: activity cost skipped');
  process.exit(0);
}
const PAGE = (withSdk) =>
  `<!doctype html><html><head><title>bench</title>${
    withSdk ? '<script src="/_lapse/client.js" data-login-url="/login"></script>' : ''
  }</head><body><main style="height:2000px"><input id="field"></main></body></html>`;
const status = () =>
  JSON.stringify({
    state: 'active',
    now: Date.now(),
    idleExpiresAt: Date.now() + 15 * 60_000,
    absoluteExpiresAt: Date.now() + 8 * 3_600_000,
    warnAt: Date.now() + 13 * 60_000,
    policy: { idle: 15 * 60_000, absolute: 8 * 3_600_000, warn: 2 * 60_000 },
  });
const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/_lapse/client.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(served);
  } else if (path === '/_lapse/status' || path === '/_lapse/extend') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(status());
  } else {
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE(path === '/with'));
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});

async function scriptMs(path, events) {
  const page = await browser.newPage();
  await page.goto(origin + path);
  await page.waitForTimeout(300);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metric = async () =>
    (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ScriptDuration')
      .value;
  const before = await metric();
  for (let i = 0; i < events; i += 1) {
    await cdp.send('Input.dispatchMouseEvent', {
      type: 'mouseMoved',
      x: 10 + (i % 300),
      y: 10 + (i % 200),
    });
    await cdp.send('Input.dispatchKeyEvent', {
      type: 'keyDown',
      key: 'a',
      code: 'KeyA',
      text: 'a',
    });
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'a', code: 'KeyA' });
  }
  const spent = (await metric()) - before;
  await page.close();
  return spent * 1_000;
}

const EVENTS = 1_000;
const rounds = [];
for (let round = 0; round < 3; round += 1) {
  const without = await scriptMs('/without', EVENTS);
  const withSdk = await scriptMs('/with', EVENTS);
  rounds.push({ without, withSdk });
}
await browser.close();
server.close();
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const withoutMs = median(rounds.map((r) => r.without));
const withMs = median(rounds.map((r) => r.withSdk));
console.log(
  `\nCPU of ${EVENTS} trusted pointer moves + ${EVENTS} key presses in Chromium (script time, median of 3)\n`,
);
console.log('| page | script time | per event |');
console.log('| --- | ---: | ---: |');
console.log(
  `| without the SDK | ${withoutMs.toFixed(2)} ms | ${((withoutMs * 1000) / (2 * EVENTS)).toFixed(2)} µs |`,
);
console.log(
  `| with the SDK | ${withMs.toFixed(2)} ms | ${((withMs * 1000) / (2 * EVENTS)).toFixed(2)} µs |`,
);
console.log(
  `| the SDK's share | ${(withMs - withoutMs).toFixed(2)} ms | ${(((withMs - withoutMs) * 1000) / (2 * EVENTS)).toFixed(2)} µs |`,
);
