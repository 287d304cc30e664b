// Bundles the browser SDK into the one script the gateway serves at
// /_lapse/client.js: src/browser/auto-start.ts and what it imports, minified,
// as an IIFE for the browsers of the last few years (no polyfills).
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
  target: ['es2019', 'chrome80', 'firefox78', 'safari14'],
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs)[0]?.bytes ?? 0;
console.log(`${CLIENT_BUNDLE}: ${bytes} bytes minified`);
