import type pg from 'pg';
import { changedBucketsSql, positionSql } from './counts.ts';
import { BadInputError, DtmError, TaskNotFoundError, translatePgError } from './errors.ts';
import {
  type Cadence,
  type CellState,
  checkTaskName,
  fixedCadence,
  formatInterval,
  slotsIn,
  worstState,
} from './model.ts';
import type { Schema } from './schema.ts';
import { inTransaction } from './transaction.ts';
import type { Holder } from './types.ts';

// The reads of operators' views (the grid, the names, the metrics, `dtm status`): each costs the names and
// cells it asks for, never the slots those cells cover nor the history kept. Wide cells add up the stored slot
// counts (sql/000001.sql) and recount from the rows only what changed since they were stored; narrow cells
// count the rows of the window, through the primary key's index alone.

/** Where reads go: committed rows from `rows` (a replica, or the primary), live holders from `live` (the primary). */
export interface ReadPools {
  rows: pg.Pool;
  live: pg.Pool;
  schema: Schema;
}

/** A live holder of one slot. */
export interface HeldSlot extends Holder {
  name: string;
  slot: Date;
  failedAttempts: number;
}

/** What `readGrid` is asked. */
export interface GridRequest {
  /** Default: every name, in name order. */
  names?: readonly string[] | null;
  from: Date;
  to: Date;
  /** Most cells per name. Default 200; 1 to 2000. */
  columns?: number;
  /** The clock (tests). Default now. */
  now?: Date;
}

/** One cell: a run of consecutive slots of one name, shown as its worst state. */
export interface GridCell {
  start: Date;
  end: Date;
  /** The state the cell shows: the worst of `counts`. */
  state: CellState;
  /** Slots per state, only states with slots. */
  counts: Partial<Record<CellState, number>>;
  /** The most failed attempts of any slot in the cell. */
  failedAttempts: number;
  /**
   * The message (up to 500 characters) of the cell's slot; in a FAILING or SKIP cell of several slots, that of
   * its first slot in that state that has one.
   */
  message: string | null;
  /** A holder of one of the cell's slots, when it has one. */
  holder: HeldSlot | null;
}

/** One name's row of the grid. */
export interface GridRow {
  name: string;
  interval: string;
  intervalMs: number;
  /** The name's retry limit (see `TaskManager.setMaxAttempts`); null: retry forever. */
  maxAttempts: number | null;
  /** The name's first slot (its earliest row); null when it has none. */
  firstSlot: Date | null;
  /** The first slot of the window. */
  start: Date;
  /** Slots in the window. */
  slotCount: number;
  /**
   * Slots per cell. Cells are aligned to multiples of it from the name's origin, so that a cell holds the
   * same slots however the window moves; only the first and last cells may hold fewer.
   */
  slotsPerCell: number;
  /** Slots in the first cell (at most `slotsPerCell`). */
  firstCellSlots: number;
  summary: { missing: number; failing: number; running: number };
  cells: GridCell[];
}

export interface Grid {
  from: Date;
  to: Date;
  now: Date;
  rows: GridRow[];
}

/** One name with its totals over every slot it has. */
export interface NameSummary {
  name: string;
  interval: string;
  intervalMs: number;
  origin: Date;
  /** The name's retry limit; null: retry forever. */
  maxAttempts: number | null;
  firstSlot: Date | null;
  lastSlot: Date | null;
  /** Slots by live state (a held slot counts as ACQUIRED, not AVAILABLE). */
  counts: Record<'AVAILABLE' | 'ACQUIRED' | 'COMPLETE' | 'SKIP', number>;
  /** AVAILABLE slots with failed attempts (not held). */
  failing: number;
  /** The oldest AVAILABLE slot that is due and not held; null when none. */
  oldestDueSlot: Date | null;
}

const DEFAULT_COLUMNS = 200;
const MAX_COLUMNS = 2_000;
const MESSAGE_LENGTH = 500;
/** Slots in a level-0 bucket; each level holds four of the one below (sql/000001.sql). */
const L0 = 16;
const TOP_LEVEL = 15;

function levelSize(level: number): number {
  return L0 * 4 ** level;
}

/** What a name is, as the reads need it. */
interface NameRow {
  name: string;
  cadence: Cadence;
  maxAttempts: number | null;
  /** Slot number of the name's first slot; null without one. */
  firstN: number | null;
}

/**
 * The grid of [from, to): for each name, its slots in at most `columns` cells, each counted by live state:
 * MISSING where no row exists (FUTURE when the slot has not started), BEFORE_FIRST before the name's first
 * slot, ACQUIRED for a slot a worker holds right now. Committed rows are read in one snapshot (of `pools.rows`),
 * holders from the primary at the same time. Unknown names: `TaskNotFoundError`.
 */
export async function readGrid(pools: ReadPools, request: GridRequest): Promise<Grid> {
  const { from, to } = request;
  if (!(from instanceof Date) || !(to instanceof Date) || Number.isNaN(from.getTime() + to.getTime()))
    throw new BadInputError('from and to must be valid dates');
  if (from > to)
    throw new BadInputError(`inverted range: from ${from.toISOString()} is after to ${to.toISOString()}`);
  const columns = request.columns ?? DEFAULT_COLUMNS;
  if (!Number.isInteger(columns) || columns < 1 || columns > MAX_COLUMNS)
    throw new BadInputError(
      `columns must be a whole number from 1 to ${MAX_COLUMNS}, got ${String(columns)}`,
    );
  const names = request.names ? [...new Set(request.names.map(checkTaskName))] : null;
  const now = request.now ?? new Date();
  const s = pools.schema.sql;

  const holding = readHolders(pools, { names, from, to });
  const counted = inSnapshot(pools.rows, 'reading the grid', async (client) => {
    const nameRows = await readNameRows(client, s, names);
    const plans = nameRows.map((row) => planRow(row, from.getTime(), to.getTime(), columns, now.getTime()));
    const hasBuckets = plans.some((plan) => plan.bucketPieces.length > 0);
    if (hasBuckets) {
      const position = await readPosition(client, s);
      const changed = await client.query<{ name: string; idx: string }>(changedBucketsSql(s), [
        position,
        names,
        from,
        to,
      ]);
      correctChanged(plans, changed.rows);
    }
    await countPieces(client, s, plans);
    return plans;
  });
  const [held, plans] = await Promise.all([holding, counted]);
  for (const slot of held) plans.find((plan) => plan.name.name === slot.name)?.hold(slot);
  const rows = plans.map((plan) => plan.toRow());
  await readMessages(pools.rows, s, rows);
  return { from, to, now, rows };
}

/**
 * Every name with its totals (stored counts, corrected by what changed since), first and last slot and
 * oldest due slot; held slots from the primary count as ACQUIRED.
 */
export async function readNames(pools: ReadPools): Promise<NameSummary[]> {
  const s = pools.schema.sql;
  const holding = readHolders(pools, { names: null });
  const read = inSnapshot(pools.rows, 'reading the names', async (client) => {
    const { rows } = await client.query<{
      name: string;
      interval_ms: string;
      origin: Date;
      max_attempts: number | null;
      first_slot: Date | null;
      last_slot: Date | null;
      due: Date[] | null;
      slots: string | null;
      available: string | null;
      failing: string | null;
      complete: string | null;
      skip: string | null;
    }>(
      // The due slots: as many as could be held, plus one (a held slot is due and AVAILABLE too).
      `WITH changed AS MATERIALIZED (${changedBucketsSql(s)}), recounted AS (
         -- Each changed bucket: its rows now, minus what its stored count says (both by key).
         SELECT c.name,
                r.slots - coalesce(k.slots, 0) AS slots,
                r.available - coalesce(k.available, 0) AS available,
                r.failing - coalesce(k.failing, 0) AS failing,
                r.complete - coalesce(k.complete, 0) AS complete,
                r.skip - coalesce(k.skip, 0) AS skip
         FROM changed c
         JOIN ${s}.task_names n ON n.name = c.name
         CROSS JOIN LATERAL (
           SELECT count(*) AS slots,
                  count(*) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts = 0) AS available,
                  count(*) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts > 0) AS failing,
                  count(*) FILTER (WHERE t.state = 'COMPLETE') AS complete,
                  count(*) FILTER (WHERE t.state = 'SKIP') AS skip
           FROM ${s}.tasks t
           WHERE t.name = c.name
             AND t.slot >= ${s}.slot_start(c.idx * ${L0}, n.origin, n.interval_ms)
             AND t.slot < ${s}.slot_start((c.idx + 1) * ${L0}, n.origin, n.interval_ms)
         ) r
         LEFT JOIN LATERAL (
           SELECT * FROM ${s}.slot_counts k WHERE k.name = c.name AND k.level = 0 AND k.idx = c.idx
         ) k ON true
       ), corrections AS (
         SELECT name, sum(slots) AS slots, sum(available) AS available, sum(failing) AS failing,
                sum(complete) AS complete, sum(skip) AS skip
         FROM recounted GROUP BY name
       )
       SELECT n.name, n.interval_ms, n.origin, n.max_attempts,
              (SELECT slot FROM ${s}.tasks t WHERE t.name = n.name ORDER BY slot LIMIT 1) AS first_slot,
              (SELECT slot FROM ${s}.tasks t WHERE t.name = n.name ORDER BY slot DESC LIMIT 1) AS last_slot,
              ARRAY(SELECT slot FROM ${s}.tasks t
                    WHERE t.name = n.name AND t.state = 'AVAILABLE'
                      AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= now())
                    ORDER BY slot LIMIT 1 + coalesce(($5::jsonb ->> n.name)::int, 0)) AS due,
              coalesce(o.slots, 0) + coalesce(c.slots, 0) AS slots,
              coalesce(o.available, 0) + coalesce(c.available, 0) AS available,
              coalesce(o.failing, 0) + coalesce(c.failing, 0) AS failing,
              coalesce(o.complete, 0) + coalesce(c.complete, 0) AS complete,
              coalesce(o.skip, 0) + coalesce(c.skip, 0) AS skip
       FROM ${s}.task_names n
       -- A name's top-level buckets: one or two rows (one per 545 years of one-second slots), by primary key.
       CROSS JOIN LATERAL (
         SELECT sum(slots) AS slots, sum(available) AS available, sum(failing) AS failing,
                sum(complete) AS complete, sum(skip) AS skip
         FROM ${s}.slot_counts WHERE name = n.name AND level = ${TOP_LEVEL}
       ) o
       LEFT JOIN corrections c ON c.name = n.name
       ORDER BY n.name`,
      [
        await readPosition(client, s),
        null,
        null,
        null,
        JSON.stringify(Object.fromEntries(heldCounts(await holding))),
      ],
    );
    return rows;
  });
  const [held, rows] = await Promise.all([holding, read]);
  const heldByName = new Map<string, HeldSlot[]>();
  for (const slot of held) heldByName.set(slot.name, [...(heldByName.get(slot.name) ?? []), slot]);
  return rows.map((row) => {
    const holders = heldByName.get(row.name) ?? [];
    const heldTimes = new Set(holders.map((slot) => slot.slot.getTime()));
    const heldFailing = holders.filter((slot) => slot.failedAttempts > 0).length;
    const intervalMs = Number(row.interval_ms);
    const failing = Math.max(0, Number(row.failing) - heldFailing);
    const available = Math.max(0, Number(row.available) - (holders.length - heldFailing)) + failing;
    return {
      name: row.name,
      interval: formatInterval(intervalMs),
      intervalMs,
      origin: row.origin,
      maxAttempts: row.max_attempts,
      firstSlot: row.first_slot,
      lastSlot: row.last_slot,
      counts: {
        AVAILABLE: available,
        ACQUIRED: holders.length,
        COMPLETE: Number(row.complete),
        SKIP: Number(row.skip),
      },
      failing,
      oldestDueSlot: (row.due ?? []).find((slot) => !heldTimes.has(slot.getTime())) ?? null,
    };
  });
}

/**
 * The slots workers hold right now (the primary's `holders` view), of `names` (null: every name) in
 * [from, to). Its cost follows the due AVAILABLE slots that the filter leaves.
 */
export async function readHolders(
  pools: ReadPools,
  filter: { names: readonly string[] | null; from?: Date | null; to?: Date | null },
): Promise<HeldSlot[]> {
  const { rows } = await query<{
    name: string;
    slot: Date;
    failed_attempts: number;
    worker: string | null;
    since: Date | null;
  }>(
    pools.live,
    `SELECT name, slot, failed_attempts, worker, since FROM ${pools.schema.sql}.holders
     WHERE ($1::text[] IS NULL OR name = ANY ($1))
       AND slot >= coalesce($2::timestamptz, '-infinity') AND slot < coalesce($3::timestamptz, 'infinity')
     ORDER BY name, slot`,
    [filter.names, filter.from ?? null, filter.to ?? null],
    'reading the live holders',
  );
  return rows.map((row) => ({
    name: row.name,
    slot: row.slot,
    failedAttempts: row.failed_attempts,
    worker: row.worker,
    since: row.since,
  }));
}

async function readPosition(client: pg.PoolClient, s: string): Promise<string> {
  const { rows } = await client.query<{ snapshot: string }>(positionSql(s));
  const [row] = rows;
  if (!row) throw new DtmError('DATABASE', 'the slot counts have no position: is the schema migrated?');
  return row.snapshot;
}

function heldCounts(held: HeldSlot[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const slot of held) counts.set(slot.name, (counts.get(slot.name) ?? 0) + 1);
  return counts;
}

async function readNameRows(client: pg.PoolClient, s: string, names: string[] | null): Promise<NameRow[]> {
  const { rows } = await client.query<{
    name: string;
    interval_ms: string;
    origin_ms: string;
    first_ms: string | null;
    max_attempts: number | null;
  }>(
    `SELECT n.name, n.interval_ms, ${s}.epoch_ms(n.origin) AS origin_ms, n.max_attempts,
            (SELECT ${s}.epoch_ms(t.slot) FROM ${s}.tasks t WHERE t.name = n.name ORDER BY t.slot LIMIT 1)
              AS first_ms
     FROM ${s}.task_names n
     WHERE $1::text[] IS NULL OR n.name = ANY ($1)
     ORDER BY n.name`,
    [names],
  );
  if (names) {
    const found = new Set(rows.map((row) => row.name));
    const unknown = names.filter((name) => !found.has(name));
    if (unknown.length > 0) {
      const listed = unknown
        .slice(0, 5)
        .map((name) => JSON.stringify(name.slice(0, 100)))
        .join(', ');
      throw new TaskNotFoundError(`unknown task name${unknown.length > 1 ? 's' : ''}: ${listed}`);
    }
  }
  const order = names ? new Map(names.map((name, i) => [name, i])) : null;
  if (order) rows.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
  return rows.map((row) => {
    const cadence = fixedCadence(Number(row.interval_ms), Number(row.origin_ms));
    return {
      name: row.name,
      cadence,
      maxAttempts: row.max_attempts,
      firstN: row.first_ms === null ? null : cadence.slotNumber(Number(row.first_ms)),
    };
  });
}

/** A range of stored buckets of one level, each counted into its cell. */
interface BucketPiece {
  level: number;
  /** Bucket numbers [lo, hi). */
  lo: number;
  hi: number;
  /** The cell of slot `loN` (the piece's first slot); each next `slotsPerCell` slots, the next cell. */
  loN: number;
  firstCell: number;
  /** 0: slots that have started; 1: slots that have not. */
  part: 0 | 1;
  sign: 1 | -1;
}

/** A range of slots counted from the rows, each into its cell. */
interface RowsPiece {
  /** Slot numbers [loN, hiN). */
  loN: number;
  hiN: number;
  /** The cell of slot `baseN` (at or before `loN`); each next `slotsPerCell` slots, the next cell. */
  baseN: number;
  firstCell: number;
  part: 0 | 1;
  sign: 1 | -1;
}

/** Which slots each cell gets, and the counts as they are read. */
class RowPlan {
  readonly name: NameRow;
  readonly first: number;
  readonly end: number;
  readonly slotsPerCell: number;
  /** Slot number from which cells are aligned: 0, or `first` when the window is one unaligned cell. */
  readonly anchor: number;
  readonly cellCount: number;
  /** The first slot that has not started. */
  readonly startedEnd: number;
  readonly bucketPieces: BucketPiece[] = [];
  readonly rowsPieces: RowsPiece[] = [];
  /** Per cell: rows that have started, rows that have not, and rows by committed state. */
  readonly rows: number[][];
  readonly available: number[];
  readonly failing: number[];
  readonly complete: number[];
  readonly skip: number[];
  readonly mostAttempts: number[];
  readonly acquired: number[];
  readonly holders: Array<HeldSlot | null>;

  constructor(name: NameRow, first: number, end: number, slotsPerCell: number, anchor: number, nowN: number) {
    this.name = name;
    this.first = first;
    this.end = end;
    this.slotsPerCell = slotsPerCell;
    this.anchor = anchor;
    this.cellCount = end > first ? this.cellOf(end - 1) + 1 : 0;
    this.startedEnd = nowN + 1;
    const zeros = () => new Array<number>(this.cellCount).fill(0);
    this.rows = [zeros(), zeros()];
    this.available = zeros();
    this.failing = zeros();
    this.complete = zeros();
    this.skip = zeros();
    this.mostAttempts = zeros();
    this.acquired = zeros();
    this.holders = new Array<HeldSlot | null>(this.cellCount).fill(null);
  }

  cellOf(n: number): number {
    const S = this.slotsPerCell;
    return Math.floor((n - this.anchor) / S) - Math.floor((this.first - this.anchor) / S);
  }

  /** The first slot number of a cell's aligned block (the cell may start later, at the window's start). */
  blockStart(cell: number): number {
    const S = this.slotsPerCell;
    return this.anchor + (cell + Math.floor((this.first - this.anchor) / S)) * S;
  }

  /** The first slot number of a cell, within the window. */
  cellStart(cell: number): number {
    return Math.max(this.blockStart(cell), this.first);
  }

  /** The slot number after a cell's last, within the window. */
  cellEnd(cell: number): number {
    return Math.min(this.blockStart(cell) + this.slotsPerCell, this.end);
  }

  hold(slot: HeldSlot): void {
    const n = this.name.cadence.slotNumber(slot.slot.getTime());
    if (n < this.first || n >= this.end) return;
    const cell = this.cellOf(n);
    // The committed row of a held slot is AVAILABLE; it counts as ACQUIRED instead.
    const counts = slot.failedAttempts > 0 ? this.failing : this.available;
    if ((counts[cell] ?? 0) === 0) return; // ended between the two reads
    counts[cell] = (counts[cell] ?? 0) - 1;
    this.acquired[cell] = (this.acquired[cell] ?? 0) + 1;
    this.holders[cell] ??= slot;
  }

  /**
   * The counts of cell `cell` (slots [start, end)), only the states above zero. Written out state by state:
   * a grid builds one per cell, tens of thousands per answer, so this allocates nothing but the object.
   */
  countsOf(cell: number, start: number, end: number): Partial<Record<CellState, number>> {
    const firstN = this.name.firstN ?? Number.POSITIVE_INFINITY;
    const from = Math.max(start, firstN);
    const before = Math.max(0, Math.min(end, firstN) - start);
    const expectedStarted = Math.max(0, Math.min(end, this.startedEnd) - from);
    const expectedFuture = Math.max(0, end - Math.max(from, this.startedEnd));
    const counts: Partial<Record<CellState, number>> = {};
    const failing = this.failing[cell] ?? 0;
    if (failing > 0) counts.FAILING = failing;
    const missing = expectedStarted - (this.rows[0]?.[cell] ?? 0);
    if (missing > 0) counts.MISSING = missing;
    const available = this.available[cell] ?? 0;
    if (available > 0) counts.AVAILABLE = available;
    const acquired = this.acquired[cell] ?? 0;
    if (acquired > 0) counts.ACQUIRED = acquired;
    const skip = this.skip[cell] ?? 0;
    if (skip > 0) counts.SKIP = skip;
    const complete = this.complete[cell] ?? 0;
    if (complete > 0) counts.COMPLETE = complete;
    const future = expectedFuture - (this.rows[1]?.[cell] ?? 0);
    if (future > 0) counts.FUTURE = future;
    if (before > 0) counts.BEFORE_FIRST = before;
    return counts;
  }

  toRow(): GridRow {
    const { cadence } = this.name;
    const cells: GridCell[] = new Array(this.cellCount);
    let missing = 0;
    let failing = 0;
    let running = 0;
    for (let cell = 0; cell < this.cellCount; cell++) {
      const start = this.cellStart(cell);
      const end = this.cellEnd(cell);
      const counts = this.countsOf(cell, start, end);
      missing += counts.MISSING ?? 0;
      failing += counts.FAILING ?? 0;
      running += counts.ACQUIRED ?? 0;
      cells[cell] = {
        start: new Date(cadence.slotStart(start)),
        end: new Date(cadence.slotStart(end)),
        state: worstState(counts) ?? 'BEFORE_FIRST',
        counts,
        failedAttempts: this.mostAttempts[cell] ?? 0,
        message: null,
        holder: this.holders[cell] ?? null,
      };
    }
    const firstN = this.name.firstN;
    return {
      name: this.name.name,
      interval: cadence.interval,
      intervalMs: cadence.intervalMs,
      maxAttempts: this.name.maxAttempts,
      firstSlot: firstN === null ? null : new Date(cadence.slotStart(firstN)),
      start: new Date(cadence.slotStart(this.first)),
      slotCount: this.end - this.first,
      slotsPerCell: this.slotsPerCell,
      firstCellSlots: this.cellCount > 0 ? this.cellEnd(0) - this.first : 0,
      summary: { missing, failing, running },
      cells,
    };
  }
}

/**
 * The cell size of a window of `count` slots starting at slot `first`: the smallest whose aligned cells
 * number at most `columns`. Below a level-0 bucket any size will do (the rows are counted); from there, one
 * to three buckets of one level, so that a cell adds up at most three stored rows. One column: the window as
 * one cell, unaligned.
 */
function cellSize(first: number, end: number, columns: number): { slotsPerCell: number; anchor: number } {
  const count = end - first;
  if (columns === 1 || count <= 1) return { slotsPerCell: Math.max(1, count), anchor: first };
  const cellsOf = (size: number) => Math.floor((end - 1) / size) - Math.floor(first / size) + 1;
  for (let size = 1; size < L0; size++)
    if (cellsOf(size) <= columns) return { slotsPerCell: size, anchor: 0 };
  for (let level = 0; level <= TOP_LEVEL; level++) {
    for (const times of [1, 2, 3]) {
      const size = times * levelSize(level);
      if (cellsOf(size) <= columns) return { slotsPerCell: size, anchor: 0 };
    }
  }
  return { slotsPerCell: count, anchor: first };
}

function planRow(name: NameRow, fromMs: number, toMs: number, columns: number, nowMs: number): RowPlan {
  const { cadence } = name;
  const { first, end } = slotsIn(cadence, fromMs, toMs);
  const { slotsPerCell, anchor } = cellSize(first, end, columns);
  const plan = new RowPlan(name, first, end, slotsPerCell, anchor, cadence.slotNumber(nowMs));
  // Started and not started slots are counted apart: a row missing from the first is MISSING, from the
  // second FUTURE.
  const split = Math.min(Math.max(plan.startedEnd, first), end);
  addPieces(plan, first, split, 0);
  addPieces(plan, split, end, 1);
  return plan;
}

/** Cuts slots [p0, p1) of one part into cells, and each cell into stored buckets and rows to count. */
function addPieces(plan: RowPlan, p0: number, p1: number, part: 0 | 1): void {
  if (p0 >= p1) return;
  const S = plan.slotsPerCell;
  if (S < L0) {
    const cell = plan.cellOf(p0);
    plan.rowsPieces.push({ loN: p0, hiN: p1, baseN: plan.blockStart(cell), firstCell: cell, part, sign: 1 });
    return;
  }
  const { anchor } = plan;
  const firstBoundary = anchor + Math.ceil((p0 - anchor) / S) * S;
  const lastBoundary = anchor + Math.floor((p1 - anchor) / S) * S;
  if (firstBoundary > lastBoundary || anchor !== 0) {
    addPartialCell(plan, p0, p1, part);
    return;
  }
  if (p0 < firstBoundary) addPartialCell(plan, p0, firstBoundary, part);
  if (firstBoundary < lastBoundary) {
    // Whole cells: `S / size` buckets each, of the level whose buckets S is a multiple of.
    let level = TOP_LEVEL;
    while (S % levelSize(level) !== 0) level--;
    const size = levelSize(level);
    plan.bucketPieces.push({
      level,
      lo: firstBoundary / size,
      hi: lastBoundary / size,
      loN: firstBoundary,
      firstCell: plan.cellOf(firstBoundary),
      part,
      sign: 1,
    });
  }
  if (lastBoundary < p1) addPartialCell(plan, lastBoundary, p1, part);
}

/**
 * Slots [a, b) of one cell: the largest aligned buckets that fit, and the rows of the few slots at the
 * ends that fill no level-0 bucket.
 */
function addPartialCell(plan: RowPlan, a: number, b: number, part: 0 | 1): void {
  const cell = plan.cellOf(a);
  const A = Math.ceil(a / L0) * L0;
  const B = Math.floor(b / L0) * L0;
  if (A >= B) {
    plan.rowsPieces.push({ loN: a, hiN: b, baseN: a, firstCell: cell, part, sign: 1 });
    return;
  }
  if (a < A) plan.rowsPieces.push({ loN: a, hiN: A, baseN: a, firstCell: cell, part, sign: 1 });
  let x = A;
  while (x < B) {
    let level = TOP_LEVEL;
    while (level > 0 && (x % levelSize(level) !== 0 || x + levelSize(level) > B)) level--;
    const size = levelSize(level);
    const last = plan.bucketPieces.at(-1);
    if (last && last.level === level && last.hi * size === x && last.firstCell === cell && last.part === part)
      last.hi += 1;
    else
      plan.bucketPieces.push({
        level,
        lo: x / size,
        hi: x / size + 1,
        loN: x,
        firstCell: cell,
        part,
        sign: 1,
      });
    x += size;
  }
  if (B < b) plan.rowsPieces.push({ loN: B, hiN: b, baseN: B, firstCell: cell, part, sign: 1 });
}

/**
 * The level-0 buckets that changed after the counts were stored: within a stored bucket that a piece adds
 * up, each is counted from its rows instead (minus its stored count, plus its rows).
 */
function correctChanged(plans: RowPlan[], changed: Array<{ name: string; idx: string }>): void {
  const byName = new Map<string, number[]>();
  for (const row of changed) byName.set(row.name, [...(byName.get(row.name) ?? []), Number(row.idx)]);
  for (const plan of plans) {
    const idxs = byName.get(plan.name.name);
    if (!idxs) continue;
    for (const piece of [...plan.bucketPieces]) {
      const size = levelSize(piece.level);
      for (const idx of idxs) {
        const n = idx * L0;
        if (n < piece.lo * size || n + L0 > piece.hi * size) continue;
        const cell = piece.firstCell + Math.floor((n - piece.loN) / plan.slotsPerCell);
        const { part } = piece;
        plan.bucketPieces.push({ level: 0, lo: idx, hi: idx + 1, loN: n, firstCell: cell, part, sign: -1 });
        plan.rowsPieces.push({ loN: n, hiN: n + L0, baseN: n, firstCell: cell, part, sign: 1 });
      }
    }
  }
}

/** Adds up every plan's pieces, in one statement, into their cells. */
async function countPieces(client: pg.PoolClient, s: string, plans: RowPlan[]): Promise<void> {
  const b = { row: [] as number[], name: [] as string[], level: [] as number[], lo: [] as number[] };
  const b2 = { hi: [] as number[], size: [] as number[], loN: [] as number[], perCell: [] as number[] };
  const b3 = { firstCell: [] as number[], part: [] as number[], sign: [] as number[] };
  const r = { row: [] as number[], name: [] as string[], lo: [] as Date[], hi: [] as Date[] };
  const r2 = { loMs: [] as number[], cellMs: [] as number[], firstCell: [] as number[] };
  const r3 = { part: [] as number[], sign: [] as number[] };
  plans.forEach((plan, i) => {
    const { cadence } = plan.name;
    for (const piece of plan.bucketPieces) {
      b.row.push(i);
      b.name.push(plan.name.name);
      b.level.push(piece.level);
      b.lo.push(piece.lo);
      b2.hi.push(piece.hi);
      b2.size.push(levelSize(piece.level));
      b2.loN.push(piece.loN);
      b2.perCell.push(plan.slotsPerCell);
      b3.firstCell.push(piece.firstCell);
      b3.part.push(piece.part);
      b3.sign.push(piece.sign);
    }
    for (const piece of plan.rowsPieces) {
      r.row.push(i);
      r.name.push(plan.name.name);
      r.lo.push(new Date(cadence.slotStart(piece.loN)));
      r.hi.push(new Date(cadence.slotStart(piece.hiN)));
      r2.loMs.push(cadence.slotStart(piece.baseN));
      r2.cellMs.push(plan.slotsPerCell * cadence.intervalMs);
      r2.firstCell.push(piece.firstCell);
      r3.part.push(piece.part);
      r3.sign.push(piece.sign);
    }
  });
  if (b.row.length + r.row.length === 0) return;
  const { rows } = await client.query<{
    row_i: number;
    cell: number;
    part: 0 | 1;
    slots: number;
    available: number | null;
    failing: number | null;
    complete: number | null;
    skip: number | null;
    max_failed_attempts: number | null;
  }>(
    `SELECT b.row_i, (b.first_cell + (c.idx * b.size - b.lo_n) / b.per_cell)::int AS cell, b.part,
            sum(b.sign * c.slots)::int AS slots, sum(b.sign * c.available)::int AS available,
            sum(b.sign * c.failing)::int AS failing, sum(b.sign * c.complete)::int AS complete,
            sum(b.sign * c.skip)::int AS skip,
            max(c.max_failed_attempts) FILTER (WHERE b.sign > 0) AS max_failed_attempts
     FROM unnest($1::int[], $2::text[], $3::smallint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                 $8::bigint[], $9::int[], $10::smallint[], $11::int[])
          AS b (row_i, name, level, lo, hi, size, lo_n, per_cell, first_cell, part, sign)
     JOIN ${s}.slot_counts c ON c.name = b.name AND c.level = b.level AND c.idx >= b.lo AND c.idx < b.hi
     GROUP BY 1, 2, 3
     UNION ALL
     SELECT r.row_i, (r.first_cell + (${s}.epoch_ms(t.slot) - r.lo_ms) / r.cell_ms)::int AS cell, r.part,
            sum(r.sign)::int,
            (sum(r.sign) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts = 0))::int,
            (sum(r.sign) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts > 0))::int,
            (sum(r.sign) FILTER (WHERE t.state = 'COMPLETE'))::int,
            (sum(r.sign) FILTER (WHERE t.state = 'SKIP'))::int,
            max(t.failed_attempts)
     FROM unnest($12::int[], $13::text[], $14::timestamptz[], $15::timestamptz[], $16::bigint[], $17::bigint[],
                 $18::int[], $19::smallint[], $20::int[])
          AS r (row_i, name, lo, hi, lo_ms, cell_ms, first_cell, part, sign)
     JOIN ${s}.tasks t ON t.name = r.name AND t.slot >= r.lo AND t.slot < r.hi
     GROUP BY 1, 2, 3`,
    [
      b.row,
      b.name,
      b.level,
      b.lo,
      b2.hi,
      b2.size,
      b2.loN,
      b2.perCell,
      b3.firstCell,
      b3.part,
      b3.sign,
      r.row,
      r.name,
      r.lo,
      r.hi,
      r2.loMs,
      r2.cellMs,
      r2.firstCell,
      r3.part,
      r3.sign,
    ],
  );
  for (const row of rows) {
    const plan = plans[row.row_i] as RowPlan;
    const { cell } = row;
    const started = plan.rows[row.part] as number[];
    started[cell] = (started[cell] ?? 0) + row.slots;
    plan.available[cell] = (plan.available[cell] ?? 0) + (row.available ?? 0);
    plan.failing[cell] = (plan.failing[cell] ?? 0) + (row.failing ?? 0);
    plan.complete[cell] = (plan.complete[cell] ?? 0) + (row.complete ?? 0);
    plan.skip[cell] = (plan.skip[cell] ?? 0) + (row.skip ?? 0);
    plan.mostAttempts[cell] = Math.max(plan.mostAttempts[cell] ?? 0, row.max_failed_attempts ?? 0);
  }
}

/**
 * The message each cell shows. A cell of one slot: its slot's. A wider cell: its first slot, in the cell's
 * state, that has one, for FAILING and SKIP cells (a worker's routine completion notes would otherwise make
 * every bucket a detail): one index probe per such cell, through the partial indexes of those states.
 */
async function readMessages(pool: pg.Pool, s: string, rows: GridRow[]): Promise<void> {
  const wanted = {
    key: [] as number[],
    name: [] as string[],
    lo: [] as Date[],
    hi: [] as Date[],
    kind: [] as string[],
  };
  const cells: GridCell[] = [];
  for (const row of rows) {
    const isSlotPerCell = row.slotsPerCell === 1;
    for (const cell of row.cells) {
      const { state, counts } = cell;
      const kind = isSlotPerCell && state !== 'ACQUIRED' ? 'ANY' : state;
      if (kind !== 'ANY' && kind !== 'FAILING' && kind !== 'SKIP') continue;
      if (kind === 'ANY' && !counts.COMPLETE && !counts.SKIP && !counts.AVAILABLE && !counts.FAILING)
        continue;
      wanted.key.push(cells.length);
      wanted.name.push(row.name);
      wanted.lo.push(cell.start);
      wanted.hi.push(cell.end);
      wanted.kind.push(kind);
      cells.push(cell);
    }
  }
  if (cells.length === 0) return;
  const first = (condition: string) => `SELECT w.key, m.message FROM wanted w
     CROSS JOIN LATERAL (
       SELECT left(t.message, ${MESSAGE_LENGTH}) AS message FROM ${s}.tasks t
       WHERE t.name = w.name AND t.slot >= w.lo AND t.slot < w.hi AND t.message IS NOT NULL AND ${condition}
       ORDER BY t.slot LIMIT 1
     ) m`;
  const { rows: messages } = await query<{ key: number; message: string }>(
    pool,
    `WITH wanted AS (
       SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
         AS w (key, name, lo, hi, kind)
     )
     ${first("t.state = 'AVAILABLE' AND t.failed_attempts > 0")} WHERE w.kind = 'FAILING'
     UNION ALL ${first("t.state = 'SKIP'")} WHERE w.kind = 'SKIP'
     UNION ALL ${first('true')} WHERE w.kind = 'ANY'`,
    [wanted.key, wanted.name, wanted.lo, wanted.hi, wanted.kind],
    'reading the grid messages',
  );
  for (const found of messages) (cells[found.key] as GridCell).message = found.message;
}

/** Runs `body` in one read-only snapshot (REPEATABLE READ), which a replica serves as well as the primary. */
function inSnapshot<T>(
  pool: pg.Pool,
  doing: string,
  body: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  // Memory enough to group a window's rows by cell without spilling to disk (a narrow grid of 100,000 slots
  // needs a few MB; the default 4 MB is easily exceeded by the sort's estimate). No JIT: compiling costs more
  // than these statements take, which the planner's estimates of the changed buckets overstate.
  return inTransaction(pool, doing, body, {
    begin:
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL work_mem = '64MB'; SET LOCAL jit = off",
  });
}

async function query<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  text: string,
  values: unknown[],
  doing: string,
): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(text, values);
  } catch (error) {
    throw translatePgError(error, doing);
  }
}
