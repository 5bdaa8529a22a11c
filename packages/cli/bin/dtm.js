#!/usr/bin/env node
// The packages run their TypeScript sources directly (no build step): register tsx, then run the CLI.
import { register } from 'tsx/esm/api';

// A reader that stops reading (`dtm … | head`) is not dtm's failure: what it did not take is dropped, and
// dtm ends with its own status instead of an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

register();
const { main } = await import('../src/main.ts');
// exitCode, never process.exit: writes to a pipe are asynchronous, and process.exit drops what is still
// queued (a long --json answer was cut at the pipe's 64 KiB). Node exits once stdout and stderr are
// flushed, since every command closes its pools, servers and databases before it returns. tsx leaves
// exitCode as it is set here.
process.exitCode = await main(process.argv.slice(2));
