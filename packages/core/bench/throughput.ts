// No-op throughput: slots completed per second draining 10,000 slots with 1, 4 and 16 at once, for DTM's
// worker and, on the same PostgreSQL in the same run, the raw-SQL floor, pg-boss and graphile-worker.
import { randomBytes } from 'node:crypto';
import { Logger, run as runGraphile } from 'graphile-worker';
import PgBoss from 'pg-boss';
import { batch, execute, holderStatements, setUp } from '../src/holder-statements.ts';
import { toSchema } from '../src/schema.ts';
import { backlogFor, createPastSlots, freshManager, MINUTE, pg, quiet, until } from './common.ts';

export const SLOTS = 10_000;
const silent = new Logger(() => () => {});
export const PG_BOSS_BATCH = 100;
export const CONCURRENCIES = [1, 4, 16] as const;
export type System =
  | 'raw SQL floor'
  | 'DTM worker'
  | 'pg-boss'
  | 'graphile-worker'
  | 'minimal lock-and-complete SQL';

/** Rounds of every system at each concurrency, one after the other; each result is the rounds' median. */
export const ROUNDS = 3;

/** What measureThroughput found: the median of the rounds, and every round. */
export interface Throughput {
  median: Record<System, Record<number, number>>;
  rounds: Record<System, Record<number, number[]>>;
}

/**
 * Slots per second for each system and concurrency: the median of ROUNDS rounds, the systems taking turns
 * within each round, so that a slower minute of the machine falls on every system alike and no single
 * drain of a couple of seconds decides a ratio.
 */
export async function measureThroughput(url: string): Promise<Throughput> {
  const runs: Record<System, (url: string, concurrency: number) => Promise<number>> = {
    'raw SQL floor': rawFloor,
    'DTM worker': dtmWorker,
    'pg-boss': pgBoss,
    'graphile-worker': graphileWorker,
    'minimal lock-and-complete SQL': minimalSql,
  };
  const systems = Object.keys(runs) as System[];
  const rounds = Object.fromEntries(systems.map((system) => [system, {}])) as Throughput['rounds'];
  const median = Object.fromEntries(systems.map((system) => [system, {}])) as Throughput['median'];
  for (const concurrency of CONCURRENCIES) {
    for (const system of systems) rounds[system][concurrency] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const system of systems) rounds[system][concurrency]?.push(await runs[system](url, concurrency));
    }
    for (const system of systems) {
      const sorted = [...(rounds[system][concurrency] ?? [])].sort((a, b) => a - b);
      median[system][concurrency] = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    }
    console.log(
      `throughput at ${concurrency}:`,
      Object.fromEntries(systems.map((system) => [system, rounds[system][concurrency]])),
    );
  }
  return { median, rounds };
}

async function dtmWorker(url: string, concurrency: number): Promise<number> {
  const tm = await freshManager(url, concurrency + 4);
  const name = 'noop';
  await createPastSlots(tm, name, SLOTS);
  const started = performance.now();
  let completed = 0;
  const worker = tm.work({
    name,
    interval: 'PT1M',
    backlog: backlogFor(SLOTS),
    concurrency,
    logger: quiet,
    handler: async () => {},
  });
  // Counted in-process: polling the table would load the server that is being measured.
  worker.on('completed', () => {
    completed += 1;
  });
  await until('DTM to drain', async () => completed >= SLOTS + 1);
  const seconds = (performance.now() - started) / 1000;
  await worker.stop();
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return (SLOTS + 1) / seconds; // and the current slot, which the worker creates
}

/**
 * The floor: DTM's own statements for one slot, driven straight through `pg` on one dedicated connection per
 * lane, with no library around them, in the worker's round trips for a handler that never reads its client
 * (no savepoint): one per slot, which ends a slot and takes the next (finish, claim, COMMIT; BEGIN, lock).
 * What DTM's worker loses against it is the cost of the worker itself.
 */
async function rawFloor(url: string, concurrency: number): Promise<number> {
  const tm = await freshManager(url, 2);
  const name = 'noop';
  await createPastSlots(tm, name, SLOTS);
  const statements = holderStatements(toSchema(tm.schema));
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new pg.Client(url);
      await client.connect();
      await setUp(client, [statements.claimOldest, statements.lockReserved, statements.finish]);
      return client;
    }),
  );
  const from = new Date(Date.now() - (SLOTS + 200) * MINUTE);
  const to = new Date();
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, lane) => {
      const claim = execute(statements.claimOldest, [name, from, to, lane + 1, 'raw', 1000, 300_000, 0.2]);
      const lock = `BEGIN; ${execute(statements.lockReserved, [lane + 1])}`;
      let [, , , , locked] = await batch(client, `BEGIN; ${claim}; COMMIT; ${lock}`);
      for (;;) {
        const row = locked?.rows[0] as { slot: Date } | undefined;
        if (!row && (await isReservationOpen(client, tm.schema, lane + 1))) {
          // The reservation lost its race (another lane locked the slot first): clear it and take again.
          await client.query('ROLLBACK');
          await client.query(
            `UPDATE "${tm.schema}".attempts SET name = NULL, slot = NULL WHERE lane = ${lane + 1}`,
          );
          [, , , , locked] = await batch(client, `BEGIN; ${claim}; COMMIT; ${lock}`);
          continue;
        }
        if (!row) {
          await client.query('ROLLBACK');
          return;
        }
        const finish = execute(statements.finish, [name, row.slot, 'COMPLETE', null, 'raw']);
        [, , , , locked] = await batch(client, `${finish}; ${claim}; COMMIT; ${lock}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.end()));
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return SLOTS / seconds;
}

/**
 * For reference, below the floor: the least any row-lock slot queue must do per slot, on one dedicated
 * connection per lane: BEGIN; SELECT … FOR UPDATE SKIP LOCKED; UPDATE to COMPLETE with a history row; COMMIT.
 * DTM does more by design (the holder made visible, both transitions recorded, a savepoint for fail()), in
 * fewer round trips (one per slot, against four).
 */
async function minimalSql(url: string, concurrency: number): Promise<number> {
  const tm = await freshManager(url, 2);
  const name = 'noop';
  await createPastSlots(tm, name, SLOTS);
  const schema = `"${tm.schema}"`;
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const client = new pg.Client(url);
      await client.connect();
      return client;
    }),
  );
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      for (;;) {
        await client.query('BEGIN');
        const { rows } = await client.query<{ slot: Date }>(
          `SELECT slot FROM ${schema}.tasks
           WHERE name = $1 AND state = 'AVAILABLE' AND (next_attempt_at IS NULL OR next_attempt_at <= now())
           ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED`,
          [name],
        );
        const slot = rows[0]?.slot;
        if (!slot) {
          await client.query('COMMIT');
          return;
        }
        await client.query(
          `WITH done AS (
             UPDATE ${schema}.tasks SET state = 'COMPLETE', completed_at = now(), next_attempt_at = NULL
             WHERE name = $1 AND slot = $2 RETURNING name, slot
           )
           INSERT INTO ${schema}.task_history (name, slot, from_state, to_state, actor)
           SELECT name, slot, 'AVAILABLE', 'COMPLETE', $3 FROM done`,
          [name, slot, 'raw'],
        );
        await client.query('COMMIT');
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.end()));
  await tm.pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await tm.close();
  return SLOTS / seconds;
}

/** pg-boss 10: one job per slot with the slot as singleton key; `concurrency` workers, each fetching batches. */
async function pgBoss(url: string, concurrency: number): Promise<number> {
  const schema = `boss_${randomBytes(4).toString('hex')}`;
  const boss = new PgBoss({
    connectionString: url,
    schema,
    max: concurrency + 4,
    supervise: false,
    schedule: false,
  });
  boss.on('error', () => {});
  await boss.start();
  const queue = 'noop';
  await boss.createQueue(queue);
  const first = Math.floor(Date.now() / MINUTE) * MINUTE;
  for (let done = 0; done < SLOTS; done += 1_000) {
    await boss.insert(
      Array.from({ length: Math.min(1_000, SLOTS - done) }, (_, i) => ({
        name: queue,
        data: {},
        singletonKey: new Date(first - (done + i) * MINUTE).toISOString(),
      })),
    );
  }
  const watcher = new pg.Pool({ connectionString: url, max: 1 });
  const pending = async () => {
    const { rows } = await watcher.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${schema}".job WHERE name = $1 AND state < 'completed'`,
      [queue],
    );
    return Number(rows[0]?.n);
  };
  const started = performance.now();
  // A pg-boss worker waits out its polling interval after every fetch, found jobs or not (v10), so one job per
  // fetch would measure the interval: each of the `concurrency` workers fetches a batch instead.
  for (let i = 0; i < concurrency; i++) {
    await boss.work(queue, { batchSize: PG_BOSS_BATCH, pollingIntervalSeconds: 0.5 }, async () => {});
  }
  await until('pg-boss to drain', async () => (await pending()) === 0, 100);
  const seconds = (performance.now() - started) / 1000;
  await boss.stop({ graceful: false, wait: true });
  await watcher.query(`DROP SCHEMA "${schema}" CASCADE`);
  await watcher.end();
  return SLOTS / seconds;
}

/** graphile-worker 0.16: one job per slot with the slot as job key; a runner with `concurrency`. */
async function graphileWorker(url: string, concurrency: number): Promise<number> {
  const schema = `gw_${randomBytes(4).toString('hex')}`;
  const watcher = new pg.Pool({ connectionString: url, max: 1 });
  // Install the schema (and let it settle) before any job exists, so that only the drain is timed.
  const installing = await runGraphile({
    connectionString: url,
    schema,
    concurrency: 1,
    noHandleSignals: true,
    taskList: { noop: async () => {} },
    logger: silent,
  });
  await installing.stop();
  await watcher.query(
    `SELECT "${schema}".add_job('noop', '{}'::json, job_key := 'slot-' || g)
     FROM generate_series(1, $1::int) g`,
    [SLOTS],
  );
  const pending = async () => {
    const { rows } = await watcher.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${schema}"._private_jobs`,
    );
    return Number(rows[0]?.n);
  };
  const started = performance.now();
  const runner = await runGraphile({
    connectionString: url,
    schema,
    concurrency,
    pollInterval: 500,
    noHandleSignals: true,
    taskList: { noop: async () => {} },
    logger: silent,
  });
  await until('graphile-worker to drain', async () => (await pending()) === 0, 100);
  const seconds = (performance.now() - started) / 1000;
  await runner.stop();
  await watcher.query(`DROP SCHEMA "${schema}" CASCADE`);
  await watcher.end();
  return SLOTS / seconds;
}

/** Whether a lane's reservation is open (reserved, its slot not ended since): it lost its race for the lock. */
async function isReservationOpen(client: pg.Client, schema: string, lane: number): Promise<boolean> {
  const { rowCount } = await client.query(
    `SELECT 1 FROM "${schema}".attempts a JOIN "${schema}".tasks t ON t.name = a.name AND t.slot = a.slot
     WHERE a.lane = $1 AND t.state = 'AVAILABLE' AND (t.acquired_at IS NULL OR t.acquired_at < a.reserved_at)`,
    [lane],
  );
  return (rowCount ?? 0) > 0;
}
