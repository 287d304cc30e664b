// Bundles the browser SDK into the one script the gateway serves at
// /_lapse/client.js: src/browser/auto-start.ts and what it imports, minified,
// as an IIFE for browsers with ES2022 (class private fields: Chrome 94, Firefox
// 93, Safari 15.4 and later; no polyfills).
import { mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

export const CLIENT_BUNDLE = 'dist/browser/lapse-client.js';

await mkdir('dist/browser', { recursive: true });
const result = await build({
  entryPoints: ['src/browser/auto-start.ts'],
  outfile: CLIENT_BUNDLE,
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2022'],
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs)[0]?.bytes ?? 0;
console.log(`${CLIENT_BUNDLE}: ${bytes} bytes minified`);
