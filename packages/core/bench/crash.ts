// Crash-release time: a process holding a slot is SIGKILLed, and the time from the kill until the slot no
// longer reads as held (its row lock freed, so that nothing can block on it) is measured. Taking it again waits
// out the backoff of its abandoned attempt (counted by the next taker: see bench/poison.ts), by design.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPastSlots, freshManager, percentile } from './common.ts';

const HOLDER = fileURLToPath(new URL('./fixtures/hold.ts', import.meta.url));

export async function measureCrashRelease(url: string, rounds = 20): Promise<{ p50: number; max: number }> {
  const tm = await freshManager(url, 4);
  const name = 'crash';
  await createPastSlots(tm, name, rounds);
  const tasks = await tm.listTasks({ name, limit: rounds });
  const samples: number[] = [];
  for (const task of tasks) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', HOLDER, url, tm.schema, name, task.slot.toISOString()],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve) =>
      child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('HELD') && resolve()),
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const killedAt = performance.now();
    child.kill('SIGKILL');
    while ((await tm.getTask(name, task.slot))?.state === 'ACQUIRED');
    samples.push(performance.now() - killedAt);
    await exited;
  }
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return { p50: percentile(samples, 50), max: Math.max(...samples) };
}
