// Crash-release time: a process holding a slot is SIGKILLed; another worker (this process) tries to take the
// slot in a tight loop, and the time from the kill to holding it is measured.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TaskBusyError } from '../src/index.ts';
import { createPastSlots, freshManager, percentile } from './common.ts';

const HOLDER = fileURLToPath(new URL('./fixtures/hold.ts', import.meta.url));

export async function measureCrashRelease(url: string, rounds = 20): Promise<{ p50: number; max: number }> {
  const tm = await freshManager(url, 4);
  const name = 'crash';
  await createPastSlots(tm, name, 1);
  const [task] = await tm.listTasks({ name, limit: 1 });
  if (!task) throw new Error('no slot');
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
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
    for (;;) {
      try {
        const held = await tm.acquire(name, task.slot);
        samples.push(performance.now() - killedAt);
        await held.release();
        break;
      } catch (error) {
        if (!(error instanceof TaskBusyError)) throw error;
      }
    }
    await exited;
  }
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return { p50: percentile(samples, 50), max: Math.max(...samples) };
}
