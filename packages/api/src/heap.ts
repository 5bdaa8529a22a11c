import { setFlagsFromString } from 'node:v8';

/**
 * For a process that does nothing but serve the API (`src/server.ts`, `dtm serve`): asks V8 to favour
 * memory over speed when it sizes its heap (`--optimize-for-size`). Left to its defaults, a busy sidecar lets
 * its young generation grow to 32 MB and its old generation to several times what is live: in the benchmark,
 * 145–180 MB of RSS after a load of grid requests, for about 25 MB of live objects and the slot index's 9 MB
 * per million slots; 80–102 MB with this, at the same request rates. V8 takes these sizing decisions at each
 * collection, so the flag takes effect although it is set after start-up (Node warns that some flags do
 * not). Not for a process that runs workers too: it trades some speed for the memory.
 */
export function preferSmallHeap(): void {
  setFlagsFromString('--optimize-for-size');
}
