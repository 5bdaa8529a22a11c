#!/usr/bin/env node
// The packages run their TypeScript sources directly (no build step): register tsx, then run the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
const status = await main(process.argv.slice(2));
// process.exit rather than exitCode: tsx's loader resets exitCode on the way out. stdout and stderr are
// synchronous for files and pipes on POSIX, so nothing written is lost.
process.exit(status);
