// The worker's throughput against another build of the core (DTM_BASE_CORE: the path of a checkout, e.g. the
// commit before issue 16), in the same run: the two take turns, round after round, on the same PostgreSQL, and
// each figure is the median of the rounds. Also the two raw SQL floors (each build's own statements, driven
// straight through `pg` in the worker's round trip per slot), which isolates what counting abandoned attempts
// costs the server from what the worker around it costs.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { batch, execute, holderStatements, setUp } from '../src/holder-statements.ts';
import { toSchema } from '../src/schema.ts';
import { backlogFor, createPastSlots, MINUTE, pg, quiet, until } from './common.ts';

export const COMPARE_ROUNDS = 5;
const SLOTS = 10_000;
const CONCURRENCY = 16;

/** The parts of a core build the comparison drives: its public TaskManager (the same API in both builds). */
interface Core {
  TaskManager: new (options: {
    connectionString: string;
    schema: string;
    poolSize: number;
    workerName: string;
  }) => {
    schema: string;
    pool: pg.Pool;
    migrate(): Promise<void>;
    close(): Promise<void>;
    createTasks(options: { name: string; from: Date; to: Date; interval: string }): Promise<number>;
    work(options: {
      name: string;
      interval: string;
      backlog: string;
      concurrency: number;
      logger: typeof quiet;
      handler: () => Promise<void>;
    }): { on(event: 'completed', listener: () => void): unknown; stop(): Promise<void> };
  };
}

export interface Comparison {
  rounds: number;
  slots: number;
  concurrency: number;
  base: string;
  /** Slots per second, every round, in the order run. */
  worker: { current: number[]; base: number[] };
  floor: { current: number[]; base: number[] };
  median: { worker: { current: number; base: number }; floor: { current: number; base: number } };
}

export async function compareWithBase(url: string, basePath: string): Promise<Comparison> {
  const current = (await import('../src/index.ts')) as unknown as Core;
  const base = (await import(pathToFileURL(`${basePath}/packages/core/src/index.ts`).href)) as Core;
  const baseStatements = (await import(
    pathToFileURL(`${basePath}/packages/core/src/holder-statements.ts`).href
  )) as BaseStatements;
  const result: Comparison['worker'] = { current: [], base: [] };
  const floor: Comparison['floor'] = { current: [], base: [] };
  for (let round = 0; round < COMPARE_ROUNDS; round++) {
    // Alternate which goes first, so that neither always runs on a warmer (or busier) machine.
    const order = round % 2 === 0 ? (['current', 'base'] as const) : (['base', 'current'] as const);
    for (const which of order) {
      result[which].push(await drain(which === 'current' ? current : base, url));
      floor[which].push(which === 'current' ? await currentFloor(url) : await baseFloor(url, baseStatements));
    }
    console.log(
      `compare round ${round + 1}: worker ${Math.round(result.current.at(-1) ?? 0)} vs base ${Math.round(result.base.at(-1) ?? 0)}; floor ${Math.round(floor.current.at(-1) ?? 0)} vs base ${Math.round(floor.base.at(-1) ?? 0)}`,
    );
  }
  return {
    rounds: COMPARE_ROUNDS,
    slots: SLOTS,
    concurrency: CONCURRENCY,
    base: basePath,
    worker: result,
    floor,
    median: {
      worker: { current: median(result.current), base: median(result.base) },
      floor: { current: median(floor.current), base: median(floor.base) },
    },
  };
}

async function drain(core: Core, url: string): Promise<number> {
  const tm = new core.TaskManager({
    connectionString: url,
    schema: `cmp_${randomBytes(4).toString('hex')}`,
    poolSize: CONCURRENCY + 4,
    workerName: `bench-${process.pid}`,
  });
  await tm.migrate();
  await createPastSlots(tm as never, 'noop', SLOTS);
  let completed = 0;
  const started = performance.now();
  const worker = tm.work({
    name: 'noop',
    interval: 'PT1M',
    backlog: backlogFor(SLOTS),
    concurrency: CONCURRENCY,
    logger: quiet,
    handler: async () => {},
  });
  worker.on('completed', () => {
    completed += 1;
  });
  await until('the worker to drain', () => completed >= SLOTS + 1);
  const seconds = (performance.now() - started) / 1000;
  await worker.stop();
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return (SLOTS + 1) / seconds;
}

/** This build's statements in the worker's round trip: finish, COMMIT; BEGIN, lockOldest. */
async function currentFloor(url: string): Promise<number> {
  return floorWith(url, (schema) => {
    const statements = holderStatements(toSchema(schema));
    const lock = (from: Date, to: Date) => execute(statements.lockOldest, ['noop', from, to]);
    return {
      setUp: [statements.lockOldest, statements.finish],
      first: (from, to) => `BEGIN; ${lock(from, to)}`,
      next: (from, to, row) =>
        `${execute(statements.finish, ['noop', row.slot, 'COMPLETE', null, 'raw'])}; COMMIT; BEGIN; ${lock(from, to)}`,
    };
  });
}

interface BaseStatements {
  holderStatements(schema: ReturnType<typeof toSchema>): Record<'lockOldest' | 'finish', SetUpLike>;
  execute(statement: SetUpLike, args: unknown[]): string;
}
interface SetUpLike {
  name: string;
  declaration: string;
}

/** The base build's statements in its round trip: finish, COMMIT; BEGIN, lockOldest. */
async function baseFloor(url: string, base: BaseStatements): Promise<number> {
  return floorWith(url, (schema) => {
    const statements = base.holderStatements(toSchema(schema));
    const lock = (from: Date, to: Date) => base.execute(statements.lockOldest, ['noop', from, to]);
    return {
      setUp: [statements.lockOldest, statements.finish],
      first: (from, to) => `BEGIN; ${lock(from, to)}`,
      next: (from, to, row) =>
        `${base.execute(statements.finish, ['noop', row.slot, 'COMPLETE', null, 'raw'])}; COMMIT; BEGIN; ${lock(from, to)}`,
    };
  });
}

async function floorWith(
  url: string,
  make: (schema: string) => {
    setUp: SetUpLike[];
    first(from: Date, to: Date): string;
    next(from: Date, to: Date, row: { slot: Date }): string;
  },
): Promise<number> {
  // The schema is the current build's, which the base statements read as their own.
  const core = (await import('../src/index.ts')) as unknown as Core;
  const tm = new core.TaskManager({
    connectionString: url,
    schema: `cmpf_${randomBytes(4).toString('hex')}`,
    poolSize: 2,
    workerName: 'raw',
  });
  await tm.migrate();
  await createPastSlots(tm as never, 'noop', SLOTS);
  const plan = make(tm.schema);
  const from = new Date(Date.now() - (SLOTS + 200) * MINUTE);
  const to = new Date();
  const clients = await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      const client = new pg.Client(url);
      await client.connect();
      await setUp(client, plan.setUp);
      return client;
    }),
  );
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      let results = await batch(client, plan.first(from, to));
      for (;;) {
        const row = results.at(-1)?.rows[0] as { slot: Date } | undefined;
        if (!row) {
          await client.query('COMMIT');
          return;
        }
        results = await batch(client, plan.next(from, to, row));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.end()));
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  return SLOTS / seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
