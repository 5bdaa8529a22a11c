// Worker memory: peak RSS of a worker process at concurrency 16 while it drains slots. The worker runs the
// built package under plain node, as in production: a TypeScript loader alone adds some 35 MB.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { backlogFor, createPastSlots, freshManager, remaining, until } from './common.ts';

const WORKER = fileURLToPath(new URL('./fixtures/rss-worker.mjs', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

function buildPackage(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: PACKAGE_DIR, stdio: 'inherit' });
}

export async function measureWorkerRss(url: string, slots = 10_000): Promise<{ peakRssMb: number }> {
  buildPackage();
  const tm = await freshManager(url, 2);
  const name = 'rss';
  await createPastSlots(tm, name, slots);
  const child = spawn(process.execPath, [WORKER, url, tm.schema, name, backlogFor(slots)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
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
