// Re-queue to pickup latency: an idle DTM worker (woken by NOTIFY, its poll far away) and 1,000 re-queues of a
// COMPLETE slot, each timed from the re-queue call to the worker's `acquired` event.
import { createPastSlots, freshManager, percentile, quiet, until } from './common.ts';

export async function measureRequeueLatency(
  url: string,
  count = 1_000,
): Promise<{ p50: number; p99: number; max: number }> {
  const tm = await freshManager(url, 8);
  const name = 'latency';
  await createPastSlots(tm, name, 1);
  let acquiredAt = 0;
  let completions = 0;
  const worker = tm.work({
    name,
    interval: 'PT1M',
    backlog: 'PT3H',
    pollInterval: 600_000,
    logger: quiet,
    handler: async () => {},
  });
  worker.on('acquired', () => {
    acquiredAt = performance.now();
  });
  worker.on('completed', () => {
    completions += 1;
  });
  await until(
    'the worker to listen and finish the first slots',
    async () => worker.isListening && completions >= 2,
  );
  const [task] = await tm.listTasks({ name, limit: 1 });
  if (!task) throw new Error('no slot');
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const before = completions;
    acquiredAt = 0;
    const started = performance.now();
    await tm.requeue({ name, slots: [task.slot] }, { reason: 'bench' });
    await until('pickup', () => completions > before, 1);
    samples.push(acquiredAt - started);
  }
  await worker.stop();
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: Math.max(...samples) };
}
