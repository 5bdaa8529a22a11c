// Long slots: DTM's known cost, one connection and one open transaction per running slot. L slots of long work
// run at once (each holding its transaction for `workMs`, then the next long slot), beside a worker that drains
// a stream of short no-op slots at 16 at once; over the window, sampled every `sampleMs`: the short slots'
// throughput (against a run with no long slots, the baseline), the connections of the database, the age of
// its oldest open transaction, and the dead tuples of the tasks table (whose vacuum the long transactions hold
// back).
import { randomBytes } from 'node:crypto';
import { TaskManager } from '../src/index.ts';
import { MINUTE, quiet, until } from './common.ts';

export interface LongSlotsOptions {
  /** How many long slots run at once, per run; a run with 0 is the baseline. */
  longSlots: number[];
  workMs: number;
  seconds: number;
  shortConcurrency: number;
  sampleMs: number;
}

export interface LongSlotsRow {
  longSlots: number;
  /** Short slots completed per second over the window. */
  shortRate: number;
  /** Peak connections to the database, and max_connections. */
  connections: number;
  maxConnections: number;
  /** Age of the oldest open transaction, seconds: the peak over the window. */
  oldestTransactionSeconds: number;
  /**
   * Dead tuples in the tasks table: at the end of the window, and the peak. Counted by pgstattuple_approx
   * when the extension is installed: the statistics' n_dead_tup (also kept) lag far behind, because a worker's
   * lane is always inside a transaction, and a backend reports its statistics only when idle outside one.
   */
  deadTuplesEnd: number;
  deadTuplesPeak: number;
  deadTuplesCounted: string;
  reportedDeadTuplesEnd: number;
  /** The tasks table's size at the end, MB. */
  tableMb: number;
  /** Long slots completed in the window. */
  longCompleted: number;
  seconds: number;
}

const SHORT_CHUNK = 10_000;

export async function measureLongSlots(
  url: string,
  options: LongSlotsOptions,
  log: (line: string) => void = console.log,
): Promise<LongSlotsRow[]> {
  const rows: LongSlotsRow[] = [];
  for (const longSlots of [0, ...options.longSlots.filter((n) => n > 0)]) {
    const row = await runWindow(url, longSlots, options);
    log(
      `long slots ${longSlots}: short ${Math.round(row.shortRate)}/s, ${row.connections} connections, oldest transaction ${row.oldestTransactionSeconds} s, dead tuples ${row.deadTuplesEnd}`,
    );
    rows.push(row);
  }
  return rows;
}

async function runWindow(url: string, longSlots: number, options: LongSlotsOptions): Promise<LongSlotsRow> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const make = (poolSize: number, who: string) =>
    new TaskManager({ connectionString: url, schema, poolSize, workerName: `${who}-${process.pid}` });
  const admin = make(3, 'bench-admin');
  await admin.migrate();
  const { rows: extensions } = await admin.pool.query(
    `SELECT 1 FROM pg_extension WHERE extname = 'pgstattuple'`,
  );
  const hasPgstattuple = extensions.length > 0;
  const base = Math.floor(Date.now() / MINUTE) * MINUTE - 200 * 1440 * MINUTE;
  // Enough long slots for every lane to take a new one as each ends, for the whole window.
  const longCount = longSlots * (Math.ceil((options.seconds * 1000) / options.workMs) + 2);
  if (longCount > 0)
    await admin.createTasks({
      name: 'long',
      from: new Date(base),
      to: new Date(base + longCount * MINUTE),
      interval: 'PT1M',
    });
  let shortNext = base;
  const addShort = async () => {
    await admin.createTasks({
      name: 'short',
      from: new Date(shortNext),
      to: new Date(shortNext + SHORT_CHUNK * MINUTE),
      interval: 'PT1M',
    });
    shortNext += SHORT_CHUNK * MINUTE;
  };
  await addShort();

  const longTm = make(longSlots + 2, 'bench-long');
  const shortTm = make(options.shortConcurrency + 2, 'bench-short');
  let held = 0;
  let longCompleted = 0;
  let shortCompleted = 0;
  const longWorker =
    longSlots > 0
      ? longTm.work({
          name: 'long',
          interval: 'PT1M',
          backlog: 'P300D',
          concurrency: longSlots,
          logger: quiet,
          shutdownGraceMs: 100,
          handler: async (task) => {
            held += 1;
            try {
              await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, options.workMs);
                task.signal.addEventListener('abort', () => {
                  clearTimeout(timer);
                  resolve();
                });
              });
            } finally {
              held -= 1;
            }
          },
        })
      : null;
  longWorker?.on('completed', () => {
    longCompleted += 1;
  });
  try {
    await until('the long slots to be held', () => held >= longSlots, 20, 120_000);
    const shortWorker = shortTm.work({
      name: 'short',
      interval: 'PT1M',
      backlog: 'P300D',
      concurrency: options.shortConcurrency,
      logger: quiet,
      handler: async () => {},
    });
    shortWorker.on('completed', () => {
      shortCompleted += 1;
    });
    const started = performance.now();
    const fromShort = shortCompleted;
    const fromLong = longCompleted;
    let connections = 0;
    let oldest = 0;
    let deadPeak = 0;
    let deadEnd = 0;
    let maxConnections = 0;
    let reportedDead = 0;
    let bytes = 0;
    let isTopping = false;
    // Samples at a fixed pace for the window's length: the window is the measure, not a wait for state.
    while ((performance.now() - started) / 1000 < options.seconds) {
      await new Promise((resolve) => setTimeout(resolve, options.sampleMs));
      const { rows } = await admin.pool.query<{
        connections: string;
        oldest: number | null;
        dead: string | null;
        reported_dead: string | null;
        bytes: string;
        max_connections: string;
        available: string;
      }>(
        `SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS connections,
                (SELECT extract(epoch FROM max(clock_timestamp() - xact_start))::float8 FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()) AS oldest,
                ${hasPgstattuple ? `(SELECT dead_tuple_count FROM pgstattuple_approx('"${schema}".tasks'))` : 'NULL'} AS dead,
                (SELECT n_dead_tup FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'tasks') AS reported_dead,
                pg_table_size('"${schema}".tasks') AS bytes,
                current_setting('max_connections') AS max_connections,
                (SELECT count(*) FROM "${schema}".tasks WHERE name = 'short' AND state = 'AVAILABLE') AS available`,
        [schema],
      );
      const sample = rows[0];
      if (!sample) continue;
      connections = Math.max(connections, Number(sample.connections));
      oldest = Math.max(oldest, sample.oldest ?? 0);
      deadEnd = Number(sample.dead ?? sample.reported_dead ?? 0);
      deadPeak = Math.max(deadPeak, deadEnd);
      reportedDead = Number(sample.reported_dead ?? 0);
      bytes = Number(sample.bytes);
      maxConnections = Number(sample.max_connections);
      if (Number(sample.available) < SHORT_CHUNK / 2 && !isTopping) {
        isTopping = true;
        void addShort().finally(() => {
          isTopping = false;
        });
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const shortRate = (shortCompleted - fromShort) / seconds;
    const completedLong = longCompleted - fromLong;
    await shortWorker.stop();
    await until('the short slots to be topped up', () => !isTopping, 20, 60_000);
    return {
      longSlots,
      shortRate,
      connections,
      maxConnections,
      oldestTransactionSeconds: Math.round(oldest * 10) / 10,
      deadTuplesEnd: deadEnd,
      deadTuplesPeak: deadPeak,
      deadTuplesCounted: hasPgstattuple ? 'pgstattuple_approx' : 'pg_stat_user_tables.n_dead_tup',
      reportedDeadTuplesEnd: reportedDead,
      tableMb: Math.round(bytes / 1024 ** 2),
      longCompleted: completedLong,
      seconds,
    };
  } finally {
    await longWorker?.stop();
    await longTm.close();
    await shortTm.close();
    await admin.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await admin.close();
  }
}
