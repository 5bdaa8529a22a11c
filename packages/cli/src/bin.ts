#!/usr/bin/env node
// The `dtm` bin.
import { main } from './main.ts';

// A reader that stops reading (`dtm … | head`) is not dtm's failure: what it did not take is dropped, and
// dtm ends with its own status instead of an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

// exitCode, never process.exit: writes to a pipe are asynchronous, and process.exit drops what is still
// queued (a long --json answer was cut at the pipe's 64 KiB). Node exits once stdout and stderr are
// flushed, since every command closes its pools, servers and databases before it returns.
process.exitCode = await main(process.argv.slice(2));
