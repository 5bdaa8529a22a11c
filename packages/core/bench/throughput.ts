// No-op throughput: jobs per second draining a backlog of due jobs, for DTM (per slot and batched), its raw SQL
// floor, graphile-worker and pg-boss (per job and batched, pg-boss also transactional), with 1 and 4 worker
// processes and a total concurrency of 16 and 64. Every system is timed the same way: the parent polls the
// number of unfinished rows in the system's own table at one interval, and the rate is taken between 10% and
// 90% done (so neither a system's start-up nor its tail decides it); the whole drain's rate is kept beside it.
// In each round every cell runs once, in a random order.
import { fileURLToPath } from 'node:url';
import { LineChild, pg, type Spread, shuffle, spread, until } from './common.ts';
import { type ChildConfig, type Prepared, prepare, SYSTEMS, type SystemId } from './systems.ts';

const WORKER = fileURLToPath(new URL('./fixtures/system-worker.ts', import.meta.url));

export interface ThroughputOptions {
  /** Jobs per drain. */
  jobs: number;
  rounds: number;
  concurrencies: number[];
  processes: number[];
  systems: SystemId[];
  /** How often the unfinished rows are counted, for every system. */
  pollMs: number;
  /** A drain not done by then is recorded as timed out (and how far it got), and the run goes on. */
  drainTimeoutMs: number;
}

export interface Drain {
  /** Jobs per second between 10% and 90% done. */
  rate: number;
  /** Jobs per second from GO until no job was left. */
  drainRate: number;
  jobs: number;
  /**
   * What the server did per job over the drain: WAL bytes (pg_current_wal_lsn) and transactions that wrote
   * (xids assigned). Exact, unlike the cumulative statistics, which a backend that is always inside a
   * transaction (a DTM lane) reports late. Includes whatever else wrote to the server meanwhile.
   */
  walBytesPerJob: number;
  writesPerJob: number;
  /** Set when the drain did not finish within its deadline (or failed): the fraction done by then. */
  timedOutAt?: number;
  /** Why it failed, when it did not time out but broke (a process that did not start, say). */
  error?: string;
}

export interface Cell {
  system: SystemId;
  processes: number;
  concurrency: number;
  rounds: Drain[];
  /** Rounds that did not finish within the deadline (left out of the spreads). */
  timedOut: number;
  rate: Spread;
  drainRate: Spread;
  walBytesPerJob: Spread;
  writesPerJob: Spread;
}

export interface ThroughputResult {
  options: ThroughputOptions;
  cells: Cell[];
}

export const cellKey = (system: SystemId, processes: number, concurrency: number) =>
  `${system}|${processes}|${concurrency}`;

/** The worker processes of one system, started and connected; `go()` starts them all at once. */
export class Workers {
  private constructor(readonly children: LineChild[]) {}

  static async start(
    url: string,
    system: SystemId,
    prepared: Prepared,
    processes: number,
    concurrency: number,
    isTimed: boolean,
  ): Promise<Workers> {
    const children = Array.from({ length: processes }, (_, index) => {
      const config: ChildConfig = {
        system,
        url,
        schema: prepared.schema,
        queue: prepared.queue,
        concurrency: Math.max(1, Math.round(concurrency / processes)),
        index,
        isTimed,
        backlog: prepared.backlog,
      };
      return new LineChild(WORKER, [JSON.stringify(config)]);
    });
    const workers = new Workers(children);
    try {
      await Promise.all(
        children.map((child) => child.waitFor(`${system} ready`, (line) => line === 'READY')),
      );
    } catch (error) {
      workers.kill();
      throw error;
    }
    return workers;
  }

  async go(): Promise<void> {
    for (const child of this.children) child.send('GO');
    await Promise.all(
      this.children.map((child) => child.waitFor('started', (line) => line === 'STARTED', 300_000)),
    );
  }

  /** Stops every process; returns the latencies they recorded (steady load). */
  async stop(): Promise<number[]> {
    for (const child of this.children) child.send('STOP');
    const latencies: number[] = [];
    try {
      for (const child of this.children) {
        const line = await child.waitFor('its report', (text) => text.startsWith('{"latencies"'), 60_000);
        latencies.push(...(JSON.parse(line) as { latencies: number[] }).latencies);
        await child.exited;
      }
    } finally {
      this.kill();
    }
    return latencies;
  }

  kill(): void {
    for (const child of this.children) child.kill();
  }

  /** The application_name of every session of these processes. */
  names(): string[] {
    return this.children.map((child) => `bench-${child.child.pid}`);
  }
}

async function terminateSessions(url: string, names: string[]): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ANY($1::text[])',
      [names],
    );
  } finally {
    await client.end();
  }
}

/** One drain of `jobs` jobs by `system`: processes started and connected before the clock starts. */
export async function drain(
  url: string,
  system: SystemId,
  processes: number,
  concurrency: number,
  jobs: number,
  pollMs: number,
  timeoutMs = 1_800_000,
): Promise<Drain> {
  const prepared = await prepare(system, url, jobs);
  try {
    const workers = await Workers.start(url, system, prepared, processes, concurrency, false);
    try {
      const total = await prepared.remaining();
      const before = await serverCounters(url);
      const started = performance.now();
      await workers.go();
      const samples: Array<{ at: number; done: number }> = [{ at: 0, done: 0 }];
      let isTimedOut = false;
      await until(
        `${system} to drain`,
        async () => {
          const left = await prepared.remaining();
          samples.push({ at: (performance.now() - started) / 1000, done: total - left });
          isTimedOut = left > 0 && performance.now() - started > timeoutMs;
          return left === 0 || isTimedOut;
        },
        pollMs,
        timeoutMs + 60_000,
      );
      if (isTimedOut) {
        workers.kill();
        // A server backend running a statement does not notice that its client went away: end them, so that
        // the schema can be dropped.
        await terminateSessions(url, workers.names());
        const done = samples.at(-1)?.done ?? 0;
        return {
          rate: Number.NaN,
          drainRate: Number.NaN,
          jobs: total,
          walBytesPerJob: Number.NaN,
          writesPerJob: Number.NaN,
          timedOutAt: done / total,
        };
      }
      const seconds = samples.at(-1)?.at ?? Number.NaN;
      const after = await serverCounters(url);
      await workers.stop();
      const t10 = crossing(samples, 0.1 * total);
      const t90 = crossing(samples, 0.9 * total);
      return {
        rate: (0.8 * total) / (t90 - t10),
        drainRate: total / seconds,
        jobs: total,
        walBytesPerJob: (after.lsn - before.lsn) / total,
        // less the one xid each reading of the counters takes
        writesPerJob: (after.xid - before.xid - 1) / total,
      };
    } finally {
      workers.kill();
    }
  } finally {
    await prepared.drop();
  }
}

async function serverCounters(url: string): Promise<{ lsn: number; xid: number }> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const { rows } = await client.query<{ lsn: string; xid: string }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS lsn, pg_current_xact_id()::text AS xid`,
    );
    return { lsn: Number(rows[0]?.lsn), xid: Number(rows[0]?.xid) };
  } finally {
    await client.end();
  }
}

/** When `done` first reached `target`, by linear interpolation between the polls around it. */
function crossing(samples: Array<{ at: number; done: number }>, target: number): number {
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1];
    const after = samples[i];
    if (!before || !after || after.done < target) continue;
    if (after.done === before.done) return after.at;
    return before.at + ((target - before.done) / (after.done - before.done)) * (after.at - before.at);
  }
  return Number.NaN;
}

export async function measureThroughput(
  url: string,
  options: ThroughputOptions,
  log: (line: string) => void = console.log,
  /** Called after each round with what was measured so far (the full run saves it). */
  onRound: (partial: ThroughputResult) => Promise<void> = async () => {},
): Promise<ThroughputResult> {
  const combos = options.processes.flatMap((processes) =>
    options.concurrencies.flatMap((concurrency) =>
      options.systems.map((system) => ({ system, processes, concurrency })),
    ),
  );
  const rounds = new Map<string, Drain[]>(
    combos.map((c) => [cellKey(c.system, c.processes, c.concurrency), []]),
  );
  for (let round = 0; round < options.rounds; round++) {
    for (const { system, processes, concurrency } of shuffle(combos)) {
      const result = await drain(
        url,
        system,
        processes,
        concurrency,
        options.jobs,
        options.pollMs,
        options.drainTimeoutMs,
      ).catch(
        (error: unknown): Drain => ({
          rate: Number.NaN,
          drainRate: Number.NaN,
          jobs: options.jobs,
          walBytesPerJob: Number.NaN,
          writesPerJob: Number.NaN,
          timedOutAt: 0,
          error: String(error).slice(0, 500),
        }),
      );
      rounds.get(cellKey(system, processes, concurrency))?.push(result);
      log(
        `round ${round + 1}: ${SYSTEMS[system].label}, ${processes} process(es), ${concurrency} at once: ${
          result.timedOutAt === undefined
            ? `${Math.round(result.rate)}/s (drain ${Math.round(result.drainRate)}/s)`
            : result.error
              ? `FAILED: ${result.error}`
              : `TIMED OUT at ${Math.round(result.timedOutAt * 100)}% done`
        }`,
      );
    }
    await onRound({ options: { ...options, rounds: round + 1 }, cells: summarise(combos, rounds) });
  }
  return { options, cells: summarise(combos, rounds) };
}

function summarise(
  combos: Array<{ system: SystemId; processes: number; concurrency: number }>,
  rounds: Map<string, Drain[]>,
): Cell[] {
  return combos.map(({ system, processes, concurrency }) => {
    const all = rounds.get(cellKey(system, processes, concurrency)) ?? [];
    const drains = all.filter((d) => d.timedOutAt === undefined);
    return {
      timedOut: all.length - drains.length,
      system,
      processes,
      concurrency,
      rounds: all,
      rate: spread(drains.map((d) => d.rate)),
      drainRate: spread(drains.map((d) => d.drainRate)),
      walBytesPerJob: spread(drains.map((d) => d.walBytesPerJob)),
      writesPerJob: spread(drains.map((d) => d.writesPerJob)),
    };
  });
}
