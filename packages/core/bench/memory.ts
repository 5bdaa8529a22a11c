// Worker memory: peak RSS of a worker process (node --import tsx) at concurrency 16 while it drains slots.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backlogFor, createPastSlots, freshManager, remaining, until } from './common.ts';

const WORKER = fileURLToPath(new URL('./fixtures/rss-worker.ts', import.meta.url));

export async function measureWorkerRss(url: string, slots = 10_000): Promise<{ peakRssMb: number }> {
  const tm = await freshManager(url, 2);
  const name = 'rss';
  await createPastSlots(tm, name, slots);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', WORKER, url, tm.schema, name, backlogFor(slots)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await until('the worker to drain', async () => (await remaining(tm.pool, tm.schema, name)) === 0, 200);
  child.stdin?.write('stop\n');
  await until('the worker to report', async () => output.includes('peakRssMb'));
  child.kill();
  const line = output.split('\n').find((part) => part.includes('peakRssMb')) ?? '{}';
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return JSON.parse(line) as { peakRssMb: number };
}
