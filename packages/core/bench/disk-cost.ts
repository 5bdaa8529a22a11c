// What a year of one-minute slots of one task name costs on disk, before and after pruning its history to each
// slot's latest transition. `node --import tsx bench/disk-cost.ts` (DATABASE_URL, else an embedded PostgreSQL
// of its own); writes results/disk-cost.json and results/disk-cost.md. A measurement, not a test.
//
// The rows are the ones DTM writes: the slots are created by createTasks (10,000 per call), then completed by
// the statement a worker ends a slot with (holder-statements.ts, `finish`), run over 10,000 slots at a time: each
// slot's history holds its creation and its attempt (one row: acquired, then COMPLETE), with a worker's name as
// actor and no message; pruning keeps the last of them. (A real worker takes minutes for a year of slots, and its rows
// are the same.)
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@dtm/dev-db';
import type { TaskManager } from '../src/index.ts';
import { createPastSlots, freshManager, round } from './common.ts';

const SLOTS = Number(process.env.DISK_COST_SLOTS ?? 525_600); // 365 days of one-minute slots
const NAME = 'per-minute';
const RESULTS = new URL('./results/', import.meta.url);
/** A worker's name as it records it: `<hostname>:<pid>`. */
const WORKER = 'worker-7f3c9d2b1a-x8k2p:48213';

interface Sizes {
  /** pg_total_relation_size: heap, indexes and TOAST, in bytes. */
  tasks: number;
  tasksHeap: number;
  tasksIndexes: number;
  history: number;
  historyHeap: number;
  historyIndexes: number;
  historyRows: number;
}

async function sizes(tm: TaskManager): Promise<Sizes> {
  const table = (name: string) => `"${tm.schema}".${name}`;
  const { rows } = await tm.pool.query<Record<keyof Sizes, string>>(
    `SELECT pg_total_relation_size($1) AS tasks, pg_relation_size($1) AS "tasksHeap",
            pg_indexes_size($1) AS "tasksIndexes",
            pg_total_relation_size($2) AS history, pg_relation_size($2) AS "historyHeap",
            pg_indexes_size($2) AS "historyIndexes",
            (SELECT count(*) FROM ${table('task_history')}) AS "historyRows"`,
    [table('tasks'), table('task_history')],
  );
  const row = rows[0];
  if (!row) throw new Error('no sizes');
  return {
    tasks: Number(row.tasks),
    tasksHeap: Number(row.tasksHeap),
    tasksIndexes: Number(row.tasksIndexes),
    history: Number(row.history),
    historyHeap: Number(row.historyHeap),
    historyIndexes: Number(row.historyIndexes),
    historyRows: Number(row.historyRows),
  };
}

/** Completes every slot as a worker's `finish` does, with both of its transitions, 10,000 slots per statement. */
async function completeAll(tm: TaskManager): Promise<void> {
  const { rows } = await tm.pool.query<{ first: Date; last: Date }>(
    `SELECT min(slot) AS first, max(slot) AS last FROM "${tm.schema}".tasks WHERE name = $1`,
    [NAME],
  );
  const first = rows[0]?.first.getTime() ?? 0;
  const last = rows[0]?.last.getTime() ?? 0;
  for (let from = first; from <= last; from += 10_000 * 60_000) {
    await tm.pool.query(
      `WITH done AS (
         UPDATE "${tm.schema}".tasks
         SET state = 'COMPLETE', message = NULL, next_attempt_at = NULL,
             acquired_by = $2, acquired_at = now(), completed_at = clock_timestamp()
         WHERE name = $1 AND slot >= $3 AND slot < $4
         RETURNING name, slot, acquired_at, completed_at
       )
       INSERT INTO "${tm.schema}".task_history (name, slot, from_state, to_state, actor, message, at, acquired_at)
       SELECT name, slot, 'ACQUIRED', 'COMPLETE', $2, NULL, completed_at, acquired_at
       FROM done
       ORDER BY slot`,
      [NAME, WORKER, new Date(from), new Date(from + 10_000 * 60_000)],
    );
  }
}

async function vacuum(tm: TaskManager, full: boolean): Promise<void> {
  for (const table of ['tasks', 'task_history']) {
    await tm.pool.query(`VACUUM ${full ? '(FULL, ANALYZE)' : '(ANALYZE)'} "${tm.schema}".${table}`);
  }
}

async function timed<T>(body: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await body();
  return { value, seconds: round((performance.now() - started) / 1000, 2) };
}

const mb = (bytes: number) => round(bytes / 1024 ** 2, 1);
const perSlot = (bytes: number) => Math.round(bytes / SLOTS);

const db = await openDatabase({
  dataDir: fileURLToPath(new URL(`../../../.data/bench-${randomBytes(4).toString('hex')}`, import.meta.url)),
  isThrowaway: true,
});
const tm = await freshManager(db.url, 20);
try {
  const version =
    (await tm.pool.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ??
    'unknown';
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: round(totalmem() / 1024 ** 3),
  };
  console.log(
    `${SLOTS} one-minute slots of one name; PostgreSQL ${version}; ${machine.cores} × ${machine.cpu}`,
  );

  const created = await timed(() => createPastSlots(tm, NAME, SLOTS));
  console.log(`created in ${created.seconds} s`);
  const worked = await timed(() => completeAll(tm));
  console.log(`completed in ${worked.seconds} s`);

  await vacuum(tm, false);
  const written = await sizes(tm);
  await vacuum(tm, true);
  const compact = await sizes(tm);
  console.log('as written (after VACUUM):', written, '\ncompacted (VACUUM FULL):', compact);

  // Every transition is older than the retention: move them all a year and a month back.
  await tm.pool.query(`UPDATE "${tm.schema}".task_history SET at = at - interval '400 days'`);
  await vacuum(tm, true);
  const counted = await timed(() => tm.pruneHistory({ dryRun: true }));
  const pruned = await timed(() => tm.pruneHistory());
  console.log(`dry run ${counted.seconds} s, prune ${pruned.seconds} s:`, pruned.value);
  await vacuum(tm, false);
  const afterPrune = await sizes(tm);
  const again = await timed(() => tm.pruneHistory());
  console.log(`a run with nothing left to delete: ${again.seconds} s`, again.value);
  await vacuum(tm, true);
  const prunedCompact = await sizes(tm);
  console.log('after pruning (VACUUM):', afterPrune, '\nafter pruning (VACUUM FULL):', prunedCompact);

  const result = {
    date: new Date().toISOString(),
    machine,
    postgres: version,
    slots: SLOTS,
    seconds: {
      create: created.seconds,
      complete: worked.seconds,
      dryRun: counted.seconds,
      prune: pruned.seconds,
      emptyRun: again.seconds,
    },
    prune: pruned.value,
    emptyRun: again.value,
    sizes: { written, compact, afterPrune, prunedCompact },
  };
  await writeFile(new URL('disk-cost.json', RESULTS), `${JSON.stringify(result, null, 2)}\n`);
  const line = (label: string, s: Sizes) =>
    `| ${label} | ${s.historyRows.toLocaleString('en')} | ${mb(s.tasks)} MB (${perSlot(s.tasks)} B) | ${mb(s.history)} MB (${perSlot(s.history)} B) | ${mb(s.tasks + s.history)} MB (${perSlot(s.tasks + s.history)} B) |`;
  const md = `# Disk cost of a year of one-minute slots of one name

${result.date}: ${SLOTS.toLocaleString('en')} slots; PostgreSQL ${version}; ${machine.cores} × ${machine.cpu},
${machine.memoryGb} GB. Slots created by createTasks and completed by a worker's ending statement: two
history rows per slot (its creation; its attempt, acquired then completed), actor \`${WORKER}\`, no message.
Sizes are pg_total_relation_size (heap, indexes, TOAST), per slot in parentheses.

| State | History rows | tasks | task_history | Together |
|---|---|---|---|---|
${line('As written, after VACUUM', written)}
${line('Compacted (VACUUM FULL)', compact)}
${line('Pruned to the latest transition, after VACUUM', afterPrune)}
${line('Pruned, compacted (VACUUM FULL)', prunedCompact)}

Of which indexes: tasks ${mb(compact.tasksIndexes)} MB; task_history ${mb(compact.historyIndexes)} MB before
pruning, ${mb(prunedCompact.historyIndexes)} MB after (compacted).

Times: createTasks ${created.seconds} s, completing ${worked.seconds} s, dry run ${counted.seconds} s, pruning
${pruned.seconds} s (${pruned.value.deleted.toLocaleString('en')} rows deleted in ${pruned.value.batches} batches of
5,000 rows read), a run with nothing left to delete ${again.seconds} s (${again.value.batches} batches). A plain
VACUUM keeps the files' size and makes the freed space reusable by later rows; VACUUM FULL (which locks the
table) gives it back.
`;
  await writeFile(new URL('disk-cost.md', RESULTS), md);
  console.log(`\n${md}`);
} finally {
  await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
  await tm.close();
  await db.stop();
}
