// The benchmark's workers, in a process of their own: one `tm.work()` with `concurrency` lanes draining the
// AVAILABLE one-second slots of one name. Each handler holds its slot for `workMs` (0: returns at once, so
// the workers run as fast as the machine lets them). Prints `READY` once working; answers each `COUNT` line
// on stdin with `COUNT <slots completed so far> <performance.now()>`, so the benchmark can measure any
// stretch of time without restarting them; on SIGTERM stops gracefully and prints `COMPLETED <n>`.
import { createInterface } from 'node:readline';
import { TaskManager, type WorkerLogger } from '@dtm/core';

const [url, schema, name, countText, workMsText, backlogMsText] = process.argv.slice(2);
if (!url || !schema || !name || !countText || !workMsText || !backlogMsText)
  throw new Error('usage: workers.ts <url> <schema> <name> <concurrency> <workMs> <backlogMs>');
const concurrency = Number(countText);
const workMs = Number(workMsText);
const quiet: WorkerLogger = {
  debug() {},
  info() {},
  warn() {},
  error: (_fields, message) => console.error(`bench workers: ${message}`),
};

const tm = new TaskManager({
  connectionString: url,
  schema,
  poolSize: concurrency + 4,
  workerName: 'bench-worker',
});
const worker = tm.work({
  name,
  interval: 'PT1S',
  backlog: Number(backlogMsText),
  concurrency,
  logger: quiet,
  // The work a real handler does while it holds its slot, stood in for by waiting.
  handler: workMs > 0 ? () => new Promise((resolve) => setTimeout(resolve, workMs)) : async () => {},
});
let completed = 0;
worker.on('completed', () => {
  completed += 1;
});

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'COUNT') process.stdout.write(`COUNT ${completed} ${performance.now()}\n`);
});
let isStopping = false;
process.on('SIGTERM', () => {
  if (isStopping) return;
  isStopping = true;
  void (async () => {
    await worker.stop();
    process.stdout.write(`COMPLETED ${completed}\n`);
    await tm.close();
    process.exit(0);
  })();
});
process.stdout.write('READY\n');
