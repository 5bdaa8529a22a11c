// The benchmark's data: the same narrow and wide windows at every size, with more history before them (and
// more rows for the filler names) as the size grows. Bulk-loaded in plain SQL with `dtm.records_history` set
// (so that the hand-change trigger stays out of the way), then counted once with `rebuildCounts()`.
import type { TaskManager } from '@dtm/core';
import type pg from 'pg';

const SECOND = 1_000;
const MINUTE = 60_000;
const FIVE_MINUTES = 300_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** How many names of each kind, and the windows the grids ask for. */
export interface Geometry {
  /** One-minute names whose last `wideSlots` slots the wide grid asks for. */
  wideNames: number;
  wideSlots: number;
  /** Five-minute names whose last `narrowSlots` slots the narrow grid asks for. */
  narrowNames: number;
  narrowSlots: number;
  /** Hourly names that only make up the names list (and, at larger sizes, history). */
  fillerNames: number;
  fillerSlots: number;
  /** AVAILABLE one-second slots of the name the workers drain (`WORK_NAME`). */
  workSlots: number;
}

/** The geometry: 2,000 names; 50 × 43,200 one-minute slots wide, 50 × 2,016 five-minute slots narrow. */
export const FULL_GEOMETRY: Geometry = {
  wideNames: 50,
  wideSlots: 30 * 1_440,
  narrowNames: 50,
  narrowSlots: 2_016,
  fillerNames: 1_899,
  fillerSlots: 24,
  workSlots: 7 * 86_400,
};

/** A few seconds' worth, for `BENCH_SMOKE=1`: the same shapes, cut down. */
export const SMOKE_GEOMETRY: Geometry = {
  wideNames: 5,
  wideSlots: 3 * 1_440,
  narrowNames: 5,
  narrowSlots: 2_016,
  fillerNames: 39,
  fillerSlots: 24,
  workSlots: 60_000,
};

export const WORK_NAME = 'bench-work';

export const wideName = (i: number) => `wide-${String(i).padStart(2, '0')}`;
export const narrowName = (i: number) => `narrow-${String(i).padStart(2, '0')}`;

/** Slots before the wide window (an hour) and the narrow one (a day) at the smallest size: "a little". */
const WIDE_LEAD = 60;
const NARROW_LEAD = 288;

/** What one size holds: slots per name of each kind, history included. */
export interface Plan {
  geometry: Geometry;
  wideRows: number;
  narrowRows: number;
  fillerRows: number;
  /** Slots (before gaps) of the whole seed. */
  slots: number;
}

/** The smallest seed: the windows, a little before them, the filler names and the workers' slots. */
export function minimumSlots(g: Geometry): number {
  return (
    g.wideNames * (g.wideSlots + WIDE_LEAD) +
    g.narrowNames * (g.narrowSlots + NARROW_LEAD) +
    g.fillerNames * g.fillerSlots +
    g.workSlots
  );
}

/**
 * Slots per name for a seed of about `rows` rows: what the minimum lacks goes to history before the windows,
 * 70% to the wide names (one-minute history), 15% to the narrow names, 15% to the filler names. Gaps take
 * about 0.6% off the row count.
 */
export function planSize(g: Geometry, rows: number): Plan {
  const extra = Math.max(0, rows - minimumSlots(g));
  const wideRows = g.wideSlots + WIDE_LEAD + Math.floor((extra * 0.7) / g.wideNames);
  const narrowRows = g.narrowSlots + NARROW_LEAD + Math.floor((extra * 0.15) / g.narrowNames);
  const fillerRows = g.fillerSlots + Math.floor((extra * 0.15) / g.fillerNames);
  return {
    geometry: g,
    wideRows,
    narrowRows,
    fillerRows,
    slots: g.wideNames * wideRows + g.narrowNames * narrowRows + g.fillerNames * fillerRows + g.workSlots,
  };
}

/** The windows the grids ask for: they end at `anchorMs` (a whole hour) at every size. */
export interface Windows {
  wide: { names: string[]; from: Date; to: Date };
  narrow: { names: string[]; from: Date; to: Date };
}

export function windowsOf(g: Geometry, anchorMs: number): Windows {
  const range = (count: number, nameOf: (i: number) => string) =>
    Array.from({ length: count }, (_, i) => nameOf(i + 1));
  return {
    wide: {
      names: range(g.wideNames, wideName),
      from: new Date(anchorMs - g.wideSlots * MINUTE),
      to: new Date(anchorMs),
    },
    narrow: {
      names: range(g.narrowNames, narrowName),
      from: new Date(anchorMs - g.narrowSlots * FIVE_MINUTES),
      to: new Date(anchorMs),
    },
  };
}

/** What seeding took. */
export interface SeedTimes {
  rows: number;
  insertMs: number;
  vacuumMs: number;
  rebuildCountsMs: number;
  countsRows: number;
}

/**
 * The slots of one kind of name. Each slot's fate comes from a hash of (name, slot number), so every size
 * holds the same rows in the windows. Mostly COMPLETE; 1% COMPLETE after retries, 0.3% SKIP, 0.2% single
 * gaps; 0.3% of 64-slot blocks are outages (no rows) and another 0.3% incidents: FAILING within the last
 * three days, skipped by an operator before. The last two slots are AVAILABLE (not done yet).
 */
function insertSql(s: string, prefix: string, digits: number): string {
  return `INSERT INTO ${s}.tasks (name, slot, state, created_by, created_at, completed_at, failed_attempts,
                                 message, next_attempt_at)
     SELECT g.name, to_timestamp(n * $2::bigint / 1000.0), f.state, 'bench-seed',
            to_timestamp(n * $2::bigint / 1000.0),
            CASE WHEN f.state <> 'AVAILABLE' THEN to_timestamp(n * $2::bigint / 1000.0) + interval '30 seconds' END,
            f.failed_attempts, f.message,
            CASE WHEN f.failed_attempts > 0 AND f.state = 'AVAILABLE' THEN now() + interval '1 hour' END
     FROM (SELECT i, '${prefix}' || lpad(i::text, ${digits}, '0') AS name FROM generate_series(1, $1::int) i) g
     CROSS JOIN LATERAL generate_series($3::bigint - $4::bigint, $3::bigint - 1) n
     CROSS JOIN LATERAL (
       SELECT abs(hashint8(g.i::bigint * 1000003 + (n >> 6) * 7919)) % 1000 AS block_h,
              abs(hashint8(g.i::bigint * 7654321 + n)) % 1000 AS h,
              $3::bigint - n AS age
     ) r
     CROSS JOIN LATERAL (
       SELECT CASE
                WHEN r.age <= 2 THEN 'avail'
                WHEN r.block_h < 3 THEN 'gap'
                WHEN r.block_h < 6 THEN CASE WHEN r.age <= $5::bigint THEN 'fail' ELSE 'incident' END
                WHEN r.h < 2 THEN 'gap'
                WHEN r.h < 5 THEN 'skip'
                WHEN r.h < 15 THEN 'retried'
                ELSE 'complete'
              END AS kind
     ) k
     CROSS JOIN LATERAL (
       SELECT CASE k.kind WHEN 'avail' THEN 'AVAILABLE' WHEN 'fail' THEN 'AVAILABLE'
                          WHEN 'incident' THEN 'SKIP' WHEN 'skip' THEN 'SKIP' ELSE 'COMPLETE' END AS state,
              CASE k.kind WHEN 'fail' THEN 1 + r.h % 5 WHEN 'incident' THEN 3 WHEN 'retried' THEN 1 + r.h % 2
                          ELSE 0 END AS failed_attempts,
              CASE k.kind WHEN 'fail' THEN 'source unreachable: connection timed out after 30 s'
                          WHEN 'incident' THEN 'source down for maintenance; skipped by the operator'
                          WHEN 'skip' THEN 'no data published for this slot'
                          WHEN 'retried' THEN 'loaded after a retry' END AS message
     ) f
     WHERE k.kind <> 'gap'`;
}

/**
 * Loads `plan` into the (migrated, empty) schema `s` through `admin`, then VACUUM (ANALYZE) and
 * `tm.rebuildCounts()`. The windows end at `anchorMs`.
 */
export async function seed(
  admin: pg.Client,
  tm: TaskManager,
  s: string,
  plan: Plan,
  anchorMs: number,
  log: (message: string) => void,
): Promise<SeedTimes> {
  const g = plan.geometry;
  let started = performance.now();
  // Our own rows, loaded in bulk: no hand_changes row per row (rebuildCounts below counts them all).
  await admin.query(`SET dtm.records_history = 'on'`);
  await admin.query(
    `INSERT INTO ${s}.task_names (name, interval_ms)
     SELECT 'wide-' || lpad(i::text, 2, '0'), ${MINUTE} FROM generate_series(1, $1::int) i
     UNION ALL SELECT 'narrow-' || lpad(i::text, 2, '0'), ${FIVE_MINUTES} FROM generate_series(1, $2::int) i
     UNION ALL SELECT 'filler-' || lpad(i::text, 4, '0'), ${HOUR} FROM generate_series(1, $3::int) i
     UNION ALL SELECT $4, ${SECOND}`,
    [g.wideNames, g.narrowNames, g.fillerNames, WORK_NAME],
  );
  let rows = 0;
  const kinds = [
    {
      what: 'wide',
      prefix: 'wide-',
      digits: 2,
      count: g.wideNames,
      intervalMs: MINUTE,
      slots: plan.wideRows,
    },
    {
      what: 'narrow',
      prefix: 'narrow-',
      digits: 2,
      count: g.narrowNames,
      intervalMs: FIVE_MINUTES,
      slots: plan.narrowRows,
    },
    {
      what: 'filler',
      prefix: 'filler-',
      digits: 4,
      count: g.fillerNames,
      intervalMs: HOUR,
      slots: plan.fillerRows,
    },
  ];
  for (const kind of kinds) {
    const kindStarted = performance.now();
    const result = await admin.query(insertSql(s, kind.prefix, kind.digits), [
      kind.count,
      kind.intervalMs,
      anchorMs / kind.intervalMs,
      kind.slots,
      Math.floor((3 * DAY) / kind.intervalMs),
    ]);
    rows += result.rowCount ?? 0;
    log(
      `  ${kind.what}: ${(result.rowCount ?? 0).toLocaleString('en')} rows in ${Math.round(performance.now() - kindStarted)} ms`,
    );
  }
  const work = await admin.query(
    `INSERT INTO ${s}.tasks (name, slot, created_by)
     SELECT $1, to_timestamp(n), 'bench-seed' FROM generate_series($2::bigint - $3::bigint, $2::bigint - 1) n`,
    [WORK_NAME, anchorMs / SECOND, g.workSlots],
  );
  rows += work.rowCount ?? 0;
  await admin.query('RESET dtm.records_history');
  const insertMs = performance.now() - started;

  started = performance.now();
  for (const table of ['tasks', 'task_names', 'task_history', 'hand_changes', 'counts_position'])
    await admin.query(`VACUUM (ANALYZE) ${s}.${table}`);
  let vacuumMs = performance.now() - started;

  started = performance.now();
  await tm.rebuildCounts();
  const rebuildCountsMs = performance.now() - started;
  started = performance.now();
  await admin.query(`VACUUM (ANALYZE) ${s}.slot_counts`);
  vacuumMs += performance.now() - started;
  const counted = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.slot_counts`);
  return {
    rows,
    insertMs: Math.round(insertMs),
    vacuumMs: Math.round(vacuumMs),
    rebuildCountsMs: Math.round(rebuildCountsMs),
    countsRows: Number(counted.rows[0]?.n ?? 0),
  };
}
