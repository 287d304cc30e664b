#!/usr/bin/env node
import { runCli } from './program.js';

// A reader that stops early (`lapse sessions list | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('lapse: internal error:', error);
    process.exitCode = 70;
  },
);
