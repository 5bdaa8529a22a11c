// A slot whose work always kills its worker process: 3 worker processes (test/fixtures/poison-worker.ts), each
// respawned at once when it dies, for a minute from the first attempt. Counts the attempts in that minute
// (target: at most 8 with the default backoff, 1 s doubling) and reads back what the slot recorded.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPastSlots, freshManager, until } from './common.ts';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/poison-worker.ts', import.meta.url));
const WINDOW_MS = 60_000;

export async function measurePoisonSlot(
  url: string,
  mode: 'exit' | 'sigkill',
): Promise<{ attempts: number; atMs: number[]; failedAttempts: number }> {
  const tm = await freshManager(url, 4);
  const name = 'poison';
  await createPastSlots(tm, name, 1);
  const attempts: number[] = [];
  let isRunning = true;
  const children = new Set<ChildProcess>();
  const start = (): void => {
    if (!isRunning) return;
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, url, tm.schema, name, mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    child.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n'))
        if (line.includes('"attempt"')) attempts.push(Date.now());
    });
    child.on('exit', () => {
      children.delete(child);
      start();
    });
  };
  for (let i = 0; i < 3; i++) start();
  await until('the first attempt', () => attempts.length > 0, 50);
  const first = attempts[0] as number;
  await until('a minute of attempts', () => Date.now() - first >= WINDOW_MS, 200);
  isRunning = false;
  for (const child of children) child.kill('SIGKILL');
  const inWindow = attempts.filter((at) => at - first < WINDOW_MS).map((at) => at - first);
  const [slot] = await tm.listTasks({ name, limit: 1 });
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return { attempts: inWindow.length, atMs: inWindow, failedAttempts: slot?.failedAttempts ?? -1 };
}
