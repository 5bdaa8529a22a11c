// The worker's metrics (@dtm/core/metrics, prom-client), spans (@opentelemetry/api) and logs (pino), from a
// real worker against a real database; and a worker without those packages.
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { WorkerLogger } from '../src/index.ts';
import { observeWorker } from '../src/metrics.ts';
import { createManager, databaseUrl, pastSlot, uniqueName, waitFor } from './helpers.ts';
import { exited, startFixture } from './processes.ts';

const exporter = new InMemorySpanExporter();
new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();

const tm = await createManager({ retry: { baseMs: 50, maxMs: 50, jitter: 0 } });

/** The value of the sample `name{labels}` (labels in any order), or undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describe('a worker observed', () => {
  it('counts attempts by outcome, their durations and the slots held in a prom-client registry, records a span per attempt, and logs through pino', async () => {
    const name = uniqueName('observed');
    const from = pastSlot(16);
    await tm.createTasks({ name, from, to: pastSlot(10), interval: 'PT5M' });
    const slotAt = (i: number) => new Date(from.getTime() + i * 300_000).toISOString();
    // The first visit of slots 1 to 5 ends otherwise than completed; every later visit completes.
    const firstVisits = new Map<string, string>([
      [slotAt(1), 'throw'],
      [slotAt(2), 'skip'],
      [slotAt(3), 'abort'],
      [slotAt(4), 'release'],
      [slotAt(5), 'block'],
    ]);
    let unblock: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    const logged: Record<string, unknown>[] = [];
    const logger: WorkerLogger = pino(
      { level: 'debug' },
      { write: (line: string) => void logged.push(JSON.parse(line)) },
    );
    const worker = tm.work({
      name,
      interval: 'PT5M',
      backlog: 'P1D',
      pollInterval: 50,
      logger,
      handler: async (task) => {
        const slot = task.task.slot.toISOString();
        const visit = firstVisits.get(slot);
        firstVisits.delete(slot);
        if (visit === 'throw') throw new Error('source unreachable');
        if (visit === 'skip') return task.skip('no data');
        if (visit === 'abort') return task.abort(new Error('connection cut'));
        if (visit === 'release') return task.release();
        if (visit === 'block') await blocked;
        return 'counted';
      },
    });
    const registry = new Registry();
    observeWorker(worker, registry);
    try {
      const held = await waitFor('the blocked slot held', async () =>
        sample(await registry.metrics(), 'dtm_worker_slots_held', { name }) === 1 ? true : null,
      );
      expect(held).toBe(true);
      unblock();
      // Slots 0 to 5 but the skipped one, and the current one.
      await waitFor(
        'six completed attempts',
        async () =>
          sample(await registry.metrics(), 'dtm_worker_attempts_total', { name, outcome: 'completed' }) === 6,
      );
    } finally {
      unblock();
      await worker.stop();
    }
    const text = await registry.metrics();
    const outcomes = { completed: 6, skipped: 1, failed: 1, abandoned: 1, released: 1 };
    for (const [outcome, count] of Object.entries(outcomes)) {
      expect(sample(text, 'dtm_worker_attempts_total', { name, outcome }), outcome).toBe(count);
      expect(sample(text, 'dtm_worker_attempt_duration_seconds_count', { name, outcome }), outcome).toBe(
        count,
      );
      expect(
        sample(text, 'dtm_worker_attempt_duration_seconds_bucket', { name, outcome, le: '+Inf' }),
        outcome,
      ).toBe(count);
    }
    expect(sample(text, 'dtm_worker_slots_held', { name })).toBe(0);
    expect(sample(text, 'dtm_worker_errors_total', { name })).toBeUndefined();

    const spans = exporter.getFinishedSpans().filter((span) => span.attributes['dtm.task.name'] === name);
    expect(spans).toHaveLength(10);
    for (const span of spans) {
      expect(span.name).toBe('dtm.attempt');
      expect(span.attributes['dtm.worker']).toBe(worker.workerName);
      expect(span.kind).toBe(4); // CONSUMER
      expect(span.endTime[0] * 1e9 + span.endTime[1]).toBeGreaterThanOrEqual(
        span.startTime[0] * 1e9 + span.startTime[1],
      );
    }
    const ofSlot = (i: number) =>
      spans
        .filter((span) => span.attributes['dtm.task.slot'] === slotAt(i))
        .map((span) => ({ ...span.attributes, status: span.status }));
    expect(ofSlot(1)).toEqual([
      expect.objectContaining({
        'dtm.attempt': 1,
        'dtm.outcome': 'failed',
        status: { code: 2, message: 'source unreachable' },
      }),
      expect.objectContaining({ 'dtm.attempt': 2, 'dtm.outcome': 'completed', status: { code: 0 } }),
    ]);
    expect(ofSlot(2)).toEqual([expect.objectContaining({ 'dtm.attempt': 1, 'dtm.outcome': 'skipped' })]);
    expect(ofSlot(3)[0]).toMatchObject({ 'dtm.attempt': 1, 'dtm.outcome': 'abandoned', status: { code: 2 } });
    expect(ofSlot(4)).toEqual([
      expect.objectContaining({ 'dtm.attempt': 1, 'dtm.outcome': 'released', status: { code: 0 } }),
      expect.objectContaining({ 'dtm.attempt': 1, 'dtm.outcome': 'completed' }),
    ]);

    expect(logged).toContainEqual(
      expect.objectContaining({ level: 30, msg: 'worker starting', worker: worker.workerName, task: name }),
    );
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 30,
        msg: 'slot failed, to be retried',
        slot: slotAt(1),
        message: 'source unreachable',
        failedAttempts: 1,
      }),
    );
  });

  it('shares the series of one registry between workers, each counted under its name', async () => {
    const registry = new Registry();
    const names = [uniqueName('shared'), uniqueName('shared')];
    const slot = pastSlot(12);
    const workers = names.map((name) =>
      tm.work({ name, interval: 'PT5M', backlog: 'P1D', handler: async () => 'ok' }),
    );
    const stops = workers.map((worker) => observeWorker(worker, registry));
    try {
      for (const name of names) await tm.createTask({ name, slot, interval: 'PT5M' });
      for (const name of names) {
        // its slot and the current one
        await waitFor(
          `two completed attempts of ${name}`,
          async () =>
            sample(await registry.metrics(), 'dtm_worker_attempts_total', { name, outcome: 'completed' }) ===
            2,
        );
      }
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }
    for (const stop of stops) stop();
    const text = await registry.metrics();
    expect(text.match(/^# TYPE dtm_worker_attempts_total counter$/gm)).toHaveLength(1);
    // Observing stopped: the held slots no longer count those workers.
    expect(text).not.toMatch(/^dtm_worker_slots_held\{/m);
  });
});

describe('a worker without @opentelemetry/api and prom-client', () => {
  it('processes its slots as ever, and @dtm/core/metrics says which package to install', async () => {
    const name = uniqueName('bare');
    const slot = pastSlot(12);
    await tm.createTask({ name, slot, interval: 'PT5M' });
    const child = startFixture('without-peers', [databaseUrl, tm.schema, name, slot.toISOString()]);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    expect(await exited(child)).toBe(0);
    expect(stdout.split('\n')).toEqual([
      'COMPLETED',
      'metrics: @dtm/core/metrics needs the prom-client package: npm install prom-client',
      '',
    ]);
    expect((await tm.getTask(name, slot))?.state).toBe('COMPLETE');
  });
});
