// 16 workers in one process, by the core's by-hand API: each takes the next due AVAILABLE slot of a name,
// "works" for a few milliseconds while holding it, and completes it. Prints "READY", then runs until killed;
// on SIGTERM prints how many slots were completed.
import { TaskManager } from '@dtm/core';

const [url, schema, namesText, countText, workMsText] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const names = namesText.split(',');
const count = Number(countText);
const workMs = Number(workMsText);
const tm = new TaskManager({
  connectionString: url,
  schema,
  poolSize: count + 2,
  workerName: 'bench-worker',
});

let completed = 0;
let isRunning = true;

async function loop(index: number): Promise<void> {
  let turn = index;
  while (isRunning) {
    const name = names[turn % names.length] as string;
    turn += 1;
    const task = await tm.acquireNext({ name, worker: `bench-worker-${index}` });
    if (!task) continue;
    await new Promise((resolve) => setTimeout(resolve, workMs));
    await task.complete('bench');
    completed += 1;
  }
}

process.on('SIGTERM', () => {
  isRunning = false;
});
const loops = Array.from({ length: count }, (_, i) =>
  loop(i).catch((error: unknown) => console.error(error)),
);
process.stdout.write('READY\n');
await Promise.all(loops);
process.stdout.write(`COMPLETED ${completed}\n`);
await tm.close();
