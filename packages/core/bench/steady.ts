// Steady load: jobs offered at a fixed rate (a fraction of the system's measured maximum) for a while, and the
// time from each job's creation (its row's creation time, by the database's clock) to its handler's start (the
// worker's clock; the same machine). DTM is offered new slots (created AVAILABLE and due at once, which wakes
// the workers by LISTEN/NOTIFY); the peers new jobs (pg-boss on a notify queue, graphile-worker by its trigger).
import { percentile } from './common.ts';
import { prepare, type SystemId } from './systems.ts';
import { Workers } from './throughput.ts';

export interface SteadyOptions {
  systems: SystemId[];
  /** Fractions of each system's maximum to offer. */
  fractions: number[];
  seconds: number;
  processes: number;
  concurrency: number;
  /** The producer enqueues what is due every this many ms, in one statement. */
  tickMs: number;
}

export interface SteadyRow {
  system: SystemId;
  fraction: number;
  /** Jobs per second offered, and started. */
  offered: number;
  achieved: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  samples: number;
}

export async function measureSteady(
  url: string,
  options: SteadyOptions,
  maxRates: Partial<Record<SystemId, number>>,
  log: (line: string) => void = console.log,
): Promise<SteadyRow[]> {
  const rows: SteadyRow[] = [];
  for (const fraction of options.fractions) {
    for (const system of options.systems) {
      const max = maxRates[system];
      if (!max || !Number.isFinite(max)) continue;
      const row = await offer(url, system, fraction, fraction * max, options);
      rows.push(row);
      log(
        `steady ${system} at ${Math.round(fraction * 100)}% (${Math.round(row.offered)}/s): p50 ${row.p50} p95 ${row.p95} p99 ${row.p99} ms`,
      );
    }
  }
  return rows;
}

async function offer(
  url: string,
  system: SystemId,
  fraction: number,
  rate: number,
  options: SteadyOptions,
): Promise<SteadyRow> {
  const prepared = await prepare(system, url, 0);
  try {
    const workers = await Workers.start(url, system, prepared, options.processes, options.concurrency, true);
    try {
      await workers.go();
      const started = performance.now();
      let sent = 0;
      // The producer's pace, not a wait for state: each tick enqueues what the rate says is due by now.
      for (;;) {
        const elapsed = (performance.now() - started) / 1000;
        if (elapsed >= options.seconds) break;
        const due = Math.floor(rate * elapsed) - sent;
        if (due > 0) {
          await prepared.enqueue(due);
          sent += due;
        }
        await new Promise((resolve) => setTimeout(resolve, options.tickMs));
      }
      const offeredSeconds = (performance.now() - started) / 1000;
      const deadline = Date.now() + 120_000;
      while ((await prepared.remaining()) > 0) {
        if (Date.now() > deadline) throw new Error(`${system} did not catch up with its steady load`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const achievedSeconds = (performance.now() - started) / 1000;
      const latencies = await workers.stop();
      return {
        system,
        fraction,
        offered: sent / offeredSeconds,
        achieved: latencies.length / achievedSeconds,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: Math.max(...latencies),
        samples: latencies.length,
      };
    } finally {
      workers.kill();
    }
  } finally {
    await prepared.drop();
  }
}
