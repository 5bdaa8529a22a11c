import type pg from 'pg';
import type { Schema } from './schema.ts';
import { inTransaction } from './transaction.ts';

/** Most hand changes (rows changed in SQL without history) one recount takes on; the rest wait for the next. */
const HAND_CHANGES_PER_RECOUNT = 100_000;

/**
 * The level-0 buckets (16 slots, see sql/000001.sql) that changed after the counts' position: the slots named
 * by the history rows of transactions that had not ended at that snapshot, and by the hand changes. `$1`: the
 * position (`positionSql`, read first, so that the planner sees it as a value and probes the xid index);
 * `$2`: the names to look at (NULL: every name); `$3`, `$4`: the slots to look at, [from, to) (NULL:
 * unbounded). A reader recounts these from the rows; the recounter recounts and stores them.
 */
export function changedBucketsSql(s: string): string {
  return `WITH touched AS (
      SELECT name, slot FROM ${s}.task_history
      WHERE xid >= pg_snapshot_xmax($1::pg_snapshot)
      UNION
      SELECT name, slot FROM ${s}.task_history
      WHERE xid = ANY (ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot)))
      UNION
      SELECT name, slot FROM ${s}.hand_changes
    )
    SELECT DISTINCT t.name, ${s}.slot_number(t.slot, n.origin, n.interval_ms) >> 4 AS idx
    FROM touched t
    JOIN ${s}.task_names n ON n.name = t.name
    WHERE ($2::text[] IS NULL OR t.name = ANY ($2))
      AND t.slot >= coalesce($3::timestamptz, '-infinity') AND t.slot < coalesce($4::timestamptz, 'infinity')`;
}

/** The counts' position (the snapshot of the last recount), as text: `$1` of `changedBucketsSql`. */
export function positionSql(s: string): string {
  return `SELECT snapshot::text AS snapshot FROM ${s}.counts_position`;
}

/**
 * Brings the stored slot counts up to date: recounts the level-0 buckets that changed since the last recount
 * (and their parents), then moves the position on, in one transaction. Off the workers' path: it reads the
 * history and the slots, and locks only the counts' position row. Returns the number of level-0 buckets it
 * recounted, or null when another process was recounting (it skips instead of waiting).
 */
export async function recountChanged(pool: pg.Pool, schema: Schema): Promise<number | null> {
  const s = schema.sql;
  return inTransaction(pool, 'recounting slot counts', async (client) => {
    const position = await client.query<{ snapshot: string }>(
      `SELECT snapshot::text FROM ${s}.counts_position FOR UPDATE SKIP LOCKED`,
    );
    const [row] = position.rows;
    if (!row) return null;
    // One statement: the snapshot it returns is the one its reads saw, so the next recount reads on from there.
    const { rows } = await client.query<{ names: string[] | null; idxs: string[] | null; snapshot: string }>(
      `WITH hand AS (
         DELETE FROM ${s}.hand_changes
         WHERE id IN (SELECT id FROM ${s}.hand_changes ORDER BY id LIMIT ${HAND_CHANGES_PER_RECOUNT})
         RETURNING name, slot
       ), touched AS (
         SELECT name, slot FROM ${s}.task_history WHERE xid >= pg_snapshot_xmax($1::pg_snapshot)
         UNION
         SELECT name, slot FROM ${s}.task_history WHERE xid = ANY (ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot)))
         UNION
         SELECT name, slot FROM hand
       ), buckets AS (
         SELECT DISTINCT t.name, ${s}.slot_number(t.slot, n.origin, n.interval_ms) >> 4 AS idx
         FROM touched t JOIN ${s}.task_names n ON n.name = t.name
       )
       SELECT array_agg(name) AS names, array_agg(idx) AS idxs, pg_current_snapshot()::text AS snapshot
       FROM buckets`,
      [row.snapshot],
    );
    const [changed] = rows;
    if (!changed) return 0;
    if (changed.names) {
      await client.query(`SELECT ${s}.recount_buckets($1, $2)`, [changed.names, changed.idxs]);
    }
    await client.query(`UPDATE ${s}.counts_position SET snapshot = $1::pg_snapshot`, [changed.snapshot]);
    return changed.names?.length ?? 0;
  });
}

/**
 * Counts every slot again from scratch, for after a bulk load written with `dtm.records_history` set (which
 * neither the history nor the hand changes tell of). Waits for a recount under way; readers are not blocked.
 */
export async function rebuildCounts(pool: pg.Pool, schema: Schema): Promise<void> {
  const s = schema.sql;
  await inTransaction(pool, 'rebuilding slot counts', async (client) => {
    await client.query(`SELECT FROM ${s}.counts_position FOR UPDATE`);
    // The position first: whatever commits after it is read again by the next recount (recounting is harmless).
    await client.query(`UPDATE ${s}.counts_position SET snapshot = pg_current_snapshot()`);
    await client.query(`DELETE FROM ${s}.hand_changes`);
    await client.query(`DELETE FROM ${s}.slot_counts`);
    // A statement per name, so that none runs longer than one name's slots take to count (a pool may bound
    // every query's time).
    const { rows: names } = await client.query<{ name: string }>(`SELECT name FROM ${s}.task_names`);
    for (const { name } of names) {
      await client.query(
        `INSERT INTO ${s}.slot_counts
         SELECT t.name, 0, ${s}.slot_number(t.slot, n.origin, n.interval_ms) >> 4,
                count(*),
                count(*) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts = 0),
                count(*) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts > 0),
                count(*) FILTER (WHERE t.state = 'COMPLETE'),
                count(*) FILTER (WHERE t.state = 'SKIP'),
                max(t.failed_attempts)
         FROM ${s}.tasks t JOIN ${s}.task_names n ON n.name = t.name
         WHERE t.name = $1
         GROUP BY 1, 3`,
        [name],
      );
    }
    for (let level = 1; level <= 15; level++) {
      await client.query(
        `INSERT INTO ${s}.slot_counts
         SELECT name, $1::smallint, idx >> 2, sum(slots), sum(available), sum(failing), sum(complete),
                sum(skip), max(max_failed_attempts)
         FROM ${s}.slot_counts WHERE level = $1::smallint - 1
         GROUP BY name, idx >> 2`,
        [level],
      );
    }
    return null;
  });
}

/** What `startRecounting` reports. */
export interface RecountingOptions {
  /** Time between two recounts, in ms. Default 500. */
  everyMs?: number;
  /** Told of a failed recount (it is tried again at the next turn). */
  onError?: (error: Error) => void;
}

/**
 * Recounts what changed every `everyMs` until stopped (see `recountChanged`); one process at a time across
 * every process that runs this on the schema, the others skip their turn.
 */
export function startRecounting(
  pool: pg.Pool,
  schema: Schema,
  options: RecountingOptions = {},
): { stop(): Promise<void> } {
  const everyMs = options.everyMs ?? 500;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let isStopped = false;
  const turn = () => {
    running = recountChanged(pool, schema).then(
      () => {},
      (error: unknown) => options.onError?.(error instanceof Error ? error : new Error(String(error))),
    );
    void running.then(() => {
      if (!isStopped) timer = setTimeout(turn, everyMs);
    });
  };
  timer = setTimeout(turn, 0);
  return {
    async stop() {
      isStopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
