import { formatInterval } from '@dtm/core';
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { type EncodedJson, encodeJson, sendEncoded } from '../encoded-json.ts';
import { badInput } from '../http-error.ts';
import { queryInput } from '../query.ts';
import { heldRowsSql, readOnly } from '../read-only.ts';
import { CELL_STATE_CODES, CELL_STATES_WORST_FIRST, type CellState, gridQuery } from '../schemas.ts';
import type { VersionedSingleFlight } from '../single-flight.ts';

/** What one grid request asks for. */
export interface GridRequest {
  /** Null: every name. */
  names: string[] | null;
  from: Date;
  to: Date;
  columns: number;
}

interface NameRow {
  name: string;
  interval_ms: string;
  origin: Date;
}

/** One name's slots in the window (its interval's, aligned to its origin) and how they are bucketed. */
interface RowPlan {
  name: string;
  intervalMs: number;
  /** First slot at or after `from`. */
  firstMs: number;
  /** Slots in [from, to), those before the name's first slot included. */
  slotCount: number;
  slotsPerCell: number;
  cellCount: number;
}

/**
 * One cell with rows that are not plain COMPLETE (or with any row, for one-slot cells):
 * `[cell, failing, available, skip, complete, rowsPast, maxFailedAttempts, rankedMessage]`.
 */
type DetailCell = [number, number, number, number, number, number, number, string | null];
/** Rows per cell, for names whose rows have gaps between them: `[cell, rows, rowsStartedByNow]`. */
type BucketCell = [number, number, number];
/** A live holder: `[slotMs, failedAttempts, worker, sinceMs]`. */
type HeldSlot = [number, number, string | null, number | null];

/** What the grid query returns per planned name (`i` counts from 1). */
interface GridFactsRow {
  i: string;
  /** Rows in the window, and the first and last of them (epoch ms). */
  n: string;
  first_ms: string | null;
  last_ms: string | null;
  /** The name's first slot overall (epoch ms), in or before the window or after it; null: no rows. */
  name_first_ms: string | null;
  /** `cell,failing,available,skip,complete,rowsPast,maxFailedAttempts` per detail cell, `;` between cells. */
  details: string | null;
  /** The ranked message of each cell of `details`, in the same order (null where it has none). */
  messages: Array<string | null> | null;
  /**
   * `cell,rows,rowsStartedByNow` per cell, `;` between cells; set only for names whose rows have gaps
   * between them (so that counts are not arithmetic).
   */
  buckets: string | null;
  held: HeldSlot[] | null;
}

const NO_FACTS: GridFactsRow = {
  i: '0',
  n: '0',
  first_ms: null,
  last_ms: null,
  name_first_ms: null,
  details: null,
  messages: null,
  buckets: null,
  held: null,
};

const MESSAGE_LENGTH = 200;

/** Plans the rows: per name, the aligned slots in [from, to) and the bucket size. */
function planRows(names: NameRow[], request: GridRequest, maxSlotsPerName: number): RowPlan[] {
  const fromMs = request.from.getTime();
  const toMs = request.to.getTime();
  return names.map((row) => {
    const intervalMs = Number(row.interval_ms);
    const originMs = row.origin.getTime();
    const firstMs = originMs + Math.ceil((fromMs - originMs) / intervalMs) * intervalMs;
    const slotCount = Math.max(0, Math.ceil((toMs - firstMs) / intervalMs));
    if (slotCount > maxSlotsPerName) {
      throw badInput(
        `the window holds ${slotCount} slots of ${JSON.stringify(row.name)} (${formatInterval(intervalMs)}); at most ${maxSlotsPerName} per name: choose a shorter window`,
      );
    }
    const slotsPerCell = Math.max(1, Math.ceil(slotCount / request.columns));
    return {
      name: row.name,
      intervalMs,
      firstMs,
      slotCount,
      slotsPerCell,
      cellCount: Math.ceil(slotCount / slotsPerCell),
    };
  });
}

/** A slot's epoch milliseconds, in SQL. */
const epochMs = (column: string) => `round(date_part('epoch', ${column}) * 1000)::bigint`;
/** The cell of a slot of plan row `p`, in SQL. */
const cellOf = (column: string) => `(${epochMs(column)} - p.first_ms) / p.bucket_ms`;

/**
 * The grid in one statement, one row per planned name (`p`, from `$1…$7`; `$8` is now), each part one
 * value instead of thousands of rows: numbers per cell as one `string_agg` text (about 4 ms less than a
 * `json_build_array` per cell for the benchmark's grid, on the server and end to end), messages and
 * holders as JSON, which the driver parses natively:
 *
 * - `n`, `first_ms`, `last_ms`: the rows in the window, and the first and last (an index-only scan of the
 *   primary key). When they have no gaps between them, rows per cell are arithmetic.
 * - `name_first_ms`: the name's first slot overall, which may lie before the window (one probe of the
 *   primary key, as `namesSql` reads it): the slots before it are not expected, so they are not gaps. Read
 *   in the same statement, so that no row of the window precedes it.
 * - `details`: per cell, the rows worth a look: AVAILABLE and SKIP ones, COMPLETE ones that needed retries,
 *   and (for one-slot cells, `is_detailed`) every row. Each branch is a range scan of a partial index
 *   (sql/000002.sql), so the COMPLETE slots that fill most windows cost nothing here.
 * - `buckets`: rows per cell, only for names whose rows have gaps between them (else a one-time filter
 *   skips the scan).
 * - `held`: the live overlay (`heldRowsSql`: the due AVAILABLE rows whose locker is running now), read once,
 *   over each name's window only.
 */
export function gridSql(s: string): string {
  const range = 't.name = p.name AND t.slot >= p.first_slot AND t.slot < p.end_slot';
  const columns = 't.slot, t.state, t.failed_attempts, t.message';
  return `WITH p AS (
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::bigint[],
                          $6::boolean[], $7::bigint[])
       WITH ORDINALITY AS p (name, first_slot, end_slot, first_ms, bucket_ms, is_detailed, interval_ms, i)
   ), held AS MATERIALIZED (
     SELECT h.* FROM p
     JOIN (${heldRowsSql(s)}) h ON h.name = p.name AND h.slot >= p.first_slot AND h.slot < p.end_slot
   )
   SELECT p.i, tot.n, tot.first_ms, tot.last_ms,
          ${epochMs(`(SELECT min(f.slot) FROM ${s}.tasks f WHERE f.name = p.name)`)} AS name_first_ms,
          det.details, det.messages, b.buckets, hd.held
   FROM p
   CROSS JOIN LATERAL (
     SELECT count(*) AS n, ${epochMs('min(t.slot)')} AS first_ms, ${epochMs('max(t.slot)')} AS last_ms
     FROM ${s}.tasks t WHERE ${range}
   ) tot
   CROSS JOIN LATERAL (
     -- Both aggregates read the cells in the same order, so messages[k] belongs to the k-th cell of details.
     SELECT string_agg(concat_ws(',', c.cell, c.failing, c.available, c.skip, c.complete, c.rows_past,
                                 c.failed_attempts), ';') AS details,
            json_agg(c.ranked_message) AS messages
     FROM (
       SELECT ${cellOf('r.slot')} AS cell,
              count(*) FILTER (WHERE r.state = 'AVAILABLE' AND r.failed_attempts > 0) AS failing,
              count(*) FILTER (WHERE r.state = 'AVAILABLE' AND r.failed_attempts = 0) AS available,
              count(*) FILTER (WHERE r.state = 'SKIP') AS skip,
              count(*) FILTER (WHERE r.state NOT IN ('AVAILABLE', 'SKIP')) AS complete,
              count(*) FILTER (WHERE r.slot <= $8) AS rows_past,
              max(r.failed_attempts) AS failed_attempts,
              -- the message of the worst slot that has one, prefixed by its state's rank
              min(CASE WHEN r.state = 'AVAILABLE' AND r.failed_attempts > 0 THEN '0' WHEN r.state = 'AVAILABLE' THEN '2'
                       WHEN r.state = 'SKIP' THEN '4' ELSE '5' END
                  || left(r.message, ${MESSAGE_LENGTH}) COLLATE "C") AS ranked_message
       FROM (
         SELECT ${columns} FROM ${s}.tasks t WHERE ${range} AND t.state = 'AVAILABLE'
         UNION ALL
         SELECT ${columns} FROM ${s}.tasks t WHERE ${range} AND t.state = 'SKIP'
         UNION ALL
         SELECT ${columns} FROM ${s}.tasks t WHERE ${range} AND t.state = 'COMPLETE' AND t.failed_attempts > 0
         UNION ALL
         SELECT ${columns} FROM ${s}.tasks t
         WHERE p.is_detailed AND ${range} AND t.state NOT IN ('AVAILABLE', 'SKIP') AND t.failed_attempts = 0
       ) r
       GROUP BY 1
     ) c
   ) det
   CROSS JOIN LATERAL (
     SELECT string_agg(concat_ws(',', c.cell, c.n, c.n_past), ';') AS buckets
     FROM (
       SELECT ${cellOf('t.slot')} AS cell, count(*) AS n, count(*) FILTER (WHERE t.slot <= $8) AS n_past
       FROM ${s}.tasks t
       WHERE NOT p.is_detailed AND tot.n > 0 AND (tot.last_ms - tot.first_ms) / p.interval_ms + 1 <> tot.n
         AND ${range}
       GROUP BY 1
     ) c
   ) b
   CROSS JOIN LATERAL (
     SELECT json_agg(json_build_array(${epochMs('h.slot')}, h.failed_attempts, h.worker, ${epochMs('h.since')}))
              AS held
     FROM held h WHERE h.name = p.name
   ) hd
   ORDER BY p.i`;
}

function planValues(plans: RowPlan[], now: Date): unknown[] {
  return [
    plans.map((plan) => plan.name),
    plans.map((plan) => new Date(plan.firstMs)),
    plans.map((plan) => new Date(plan.firstMs + plan.slotCount * plan.intervalMs)),
    plans.map((plan) => plan.firstMs),
    plans.map((plan) => plan.intervalMs * plan.slotsPerCell),
    plans.map((plan) => plan.slotsPerCell === 1),
    plans.map((plan) => plan.intervalMs),
    now,
  ];
}

/** Count of integers in both [a0, a1] and [b0, b1]. */
function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0) + 1);
}

/**
 * The grid as the JSON text of `gridResponse`: for each name, every slot of the window by its live state,
 * MISSING where no row exists (FUTURE when the slot has not started), BEFORE_FIRST before the name's first
 * slot (not expected, so not a gap), bucketed to at most `columns` cells.
 *
 * The work in SQL grows with the rows that are not plainly COMPLETE, not with the window (see `gridSql`),
 * and the JSON is written directly in the compact form of `gridRowSchema` (a letter per cell, details only
 * where a letter does not say everything), so that its size too grows with what is not plainly one state.
 */
export async function readGridJson(
  deps: RouteDeps,
  request: GridRequest,
  options: { onQuery?: (text: string, values: unknown[]) => void } = {},
): Promise<string> {
  const s = deps.schemaSql;
  if (request.from > request.to) {
    throw badInput(
      `inverted range: from ${request.from.toISOString()} is after to ${request.to.toISOString()}`,
    );
  }
  const now = deps.now();
  const names = await readOnly<NameRow>(
    deps,
    `SELECT name, interval_ms, origin FROM ${s}.task_names
     WHERE $1::text[] IS NULL OR name = ANY($1)
     ORDER BY name`,
    [request.names],
  );
  if (request.names) {
    const known = new Set(names.map((row) => row.name));
    const unknown = request.names.filter((name) => !known.has(name));
    if (unknown.length > 0) {
      const listed = unknown
        .slice(0, 5)
        .map((name) => JSON.stringify(name.slice(0, 100)))
        .join(', ');
      throw badInput(`unknown task name${unknown.length > 1 ? 's' : ''}: ${listed}`);
    }
  }
  const plans = planRows(names, request, deps.limits.maxGridSlotsPerName);
  const queried = plans.filter((plan) => plan.slotCount > 0);
  const facts = new Map<string, GridFactsRow>();
  if (queried.length > 0) {
    const values = planValues(queried, now);
    const text = gridSql(s);
    options.onQuery?.(text, values);
    for (const row of await readOnly<GridFactsRow>(deps, text, values)) {
      const plan = queried[Number(row.i) - 1];
      if (plan) facts.set(plan.name, row);
    }
  }
  const nowMs = now.getTime();
  const messages = new MessageTable();
  const rows = plans.map((plan) => rowJson(plan, facts.get(plan.name) ?? NO_FACTS, nowMs, messages));
  return `{"from":"${request.from.toISOString()}","to":"${request.to.toISOString()}","now":"${now.toISOString()}","messages":${messages.toJson()},"rows":[${rows.join(',')}]}`;
}

const STATE_COUNT = CELL_STATES_WORST_FIRST.length;
const INDEX_OF = Object.fromEntries(CELL_STATES_WORST_FIRST.map((state, i) => [state, i])) as Record<
  CellState,
  number
>;
/** A message's rank prefix (see `gridSql`) → the state whose message it is. */
const RANKED_STATE: Record<string, CellState> = {
  '0': 'FAILING',
  '2': 'AVAILABLE',
  '4': 'SKIP',
  '5': 'COMPLETE',
};

/** The messages of one response (`messages`), each written once and referred to by its index. */
class MessageTable {
  readonly #indexes = new Map<string, number>();
  readonly #json: string[] = [];

  indexOf(message: string): number {
    let index = this.#indexes.get(message);
    if (index === undefined) {
      index = this.#json.length;
      this.#json.push(JSON.stringify(message));
      this.#indexes.set(message, index);
    }
    return index;
  }

  toJson(): string {
    return `[${this.#json.join(',')}]`;
  }
}

/** `a,b;c,d` (a `string_agg` of the grid query) → `[[a, b], [c, d]]`, sorted by the first number (the cell). */
function numberRowsOf(text: string): number[][] {
  const rows = text.split(';').map((row) => row.split(',').map(Number));
  return rows.sort((a, b) => (a[0] as number) - (b[0] as number));
}

function detailCellsOf(facts: GridFactsRow): DetailCell[] {
  if (facts.details === null) return [];
  const messages = facts.messages ?? [];
  // Pair each cell with its message before sorting: the two aggregates share their order, not the cells'.
  const rows = facts.details.split(';').map((row, k) => [...row.split(',').map(Number), messages[k] ?? null]);
  return (rows as DetailCell[]).sort((a, b) => a[0] - b[0]);
}

/**
 * One grid row as JSON text, in the compact form of `gridRowSchema`: the cells' states as one letter each
 * (`CELL_STATE_CODES`), and a detail tuple only for the cells that a letter does not describe fully
 * (several states among their slots, failed attempts, a message, a holder). Cell boundaries are not sent:
 * they follow from `firstStart`, `intervalMs`, `slotsPerCell` and `slotCount`.
 */
function rowJson(plan: RowPlan, facts: GridFactsRow, nowMs: number, messages: MessageTable): string {
  const isDetailed = plan.slotsPerCell === 1;
  // Index of the last slot that has started (slot start <= now); slots after it are in the future.
  const lastPastIndex = Math.floor((nowMs - plan.firstMs) / plan.intervalMs);
  const hasRows = Number(facts.n) > 0 && facts.first_ms !== null && facts.last_ms !== null;
  const firstRow = hasRows ? (Number(facts.first_ms) - plan.firstMs) / plan.intervalMs : 0;
  const lastRow = hasRows ? (Number(facts.last_ms) - plan.firstMs) / plan.intervalMs : -1;
  // Index of the name's first slot: the slots before it are BEFORE_FIRST, never MISSING nor FUTURE. A name
  // without rows has no first slot yet, so none of its slots is expected.
  const firstExpected =
    facts.name_first_ms === null
      ? plan.slotCount
      : Math.min(
          plan.slotCount,
          Math.max(0, Math.ceil((Number(facts.name_first_ms) - plan.firstMs) / plan.intervalMs)),
        );
  const heldByCell = new Map<number, HeldSlot[]>();
  for (const held of facts.held ?? []) {
    const index = (held[0] - plan.firstMs) / plan.intervalMs;
    if (index < 0 || index >= plan.slotCount || !Number.isInteger(index)) continue;
    const cell = Math.floor(index / plan.slotsPerCell);
    const list = heldByCell.get(cell);
    if (list) list.push(held);
    else heldByCell.set(cell, [held]);
  }
  const detailFacts = detailCellsOf(facts);
  const buckets = facts.buckets === null ? null : (numberRowsOf(facts.buckets) as BucketCell[]);
  let detailAt = 0;
  let bucketAt = 0;
  let missingTotal = 0;
  let failingTotal = 0;
  let runningTotal = 0;
  const counts = new Array<number>(STATE_COUNT).fill(0);
  let states = '';
  const details: string[] = [];
  for (let cell = 0; cell < plan.cellCount; cell++) {
    const firstIndex = cell * plan.slotsPerCell;
    const slotsInCell = Math.min(plan.slotsPerCell, plan.slotCount - firstIndex);
    const lastIndex = firstIndex + slotsInCell - 1;
    const before = Math.min(slotsInCell, Math.max(0, firstExpected - firstIndex));
    // Expected slots (from the first slot on) of the cell that have started.
    const expectedFrom = firstIndex + before;
    const pastExpected = Math.max(0, Math.min(lastIndex, lastPastIndex) - expectedFrom + 1);
    while (detailAt < detailFacts.length && (detailFacts[detailAt] as DetailCell)[0] < cell) detailAt++;
    const detail = detailFacts[detailAt]?.[0] === cell ? detailFacts[detailAt] : undefined;
    let failing = detail?.[1] ?? 0;
    let available = detail?.[2] ?? 0;
    const skip = detail?.[3] ?? 0;
    let rows: number;
    let rowsPast: number;
    if (isDetailed) {
      rows = failing + available + skip + (detail?.[4] ?? 0);
      rowsPast = detail?.[5] ?? 0;
    } else if (buckets) {
      while (bucketAt < buckets.length && (buckets[bucketAt] as BucketCell)[0] < cell) bucketAt++;
      const bucket = buckets[bucketAt]?.[0] === cell ? buckets[bucketAt] : undefined;
      rows = bucket?.[1] ?? 0;
      rowsPast = bucket?.[2] ?? 0;
    } else {
      rows = overlap(firstRow, lastRow, firstIndex, lastIndex);
      rowsPast = overlap(firstRow, Math.min(lastRow, lastPastIndex), firstIndex, lastIndex);
    }
    const complete = rows - failing - available - skip;
    // The live overlay: a held slot's committed row is AVAILABLE (failing or not); it reads ACQUIRED.
    const holders = heldByCell.get(cell);
    for (const held of holders ?? []) {
      if (held[1] > 0) failing = Math.max(0, failing - 1);
      else available = Math.max(0, available - 1);
    }
    counts[INDEX_OF.FAILING] = failing;
    counts[INDEX_OF.AVAILABLE] = available;
    counts[INDEX_OF.ACQUIRED] = holders?.length ?? 0;
    counts[INDEX_OF.SKIP] = skip;
    counts[INDEX_OF.COMPLETE] = complete;
    counts[INDEX_OF.MISSING] = pastExpected - rowsPast;
    counts[INDEX_OF.FUTURE] = slotsInCell - before - pastExpected - (rows - rowsPast);
    counts[INDEX_OF.BEFORE_FIRST] = before;
    let worst = STATE_COUNT - 1;
    let statesInCell = 0;
    for (let i = STATE_COUNT - 1; i >= 0; i--) {
      if ((counts[i] as number) > 0) {
        worst = i;
        statesInCell++;
      }
    }
    const state = CELL_STATES_WORST_FIRST[worst] as CellState;
    states += CELL_STATE_CODES[worst];
    missingTotal += Math.max(0, counts[INDEX_OF.MISSING] as number);
    failingTotal += Math.max(0, failing);
    runningTotal += holders?.length ?? 0;

    // The detail tuple `[cell, counts, failedAttempts, message, holder]`, its trailing defaults left out.
    let counted = '';
    if (statesInCell > 1) {
      for (let i = 0; i < STATE_COUNT; i++) {
        if ((counts[i] as number) > 0) counted += `${CELL_STATE_CODES[i]}${counts[i]}`;
      }
    }
    const failedAttempts = detail?.[6] ?? 0;
    const ranked = detail?.[7] ?? null;
    const message =
      ranked !== null && RANKED_STATE[ranked[0] as string] === state ? messages.indexOf(ranked.slice(1)) : -1;
    const holder = holders?.[0];
    let tail = '';
    if (holder) {
      const since = holder[3] === null ? 'null' : `"${new Date(holder[3]).toISOString()}"`;
      tail = `,{"worker":${JSON.stringify(holder[2])},"since":${since}}`;
    }
    if (message >= 0 || tail !== '') tail = `,${message >= 0 ? message : 'null'}${tail}`;
    if (failedAttempts > 0 || tail !== '') tail = `,${failedAttempts}${tail}`;
    if (counted !== '' || tail !== '') tail = `,${counted === '' ? 'null' : `"${counted}"`}${tail}`;
    if (tail !== '') details.push(`[${cell}${tail}]`);
  }
  return `{"name":${JSON.stringify(plan.name)},"interval":"${formatInterval(plan.intervalMs)}","intervalMs":${plan.intervalMs},"firstStart":"${new Date(plan.firstMs).toISOString()}","slotsPerCell":${plan.slotsPerCell},"slotCount":${plan.slotCount},"cellCount":${plan.cellCount},"summary":{"missing":${missingTotal},"failing":${failingTotal},"running":${runningTotal}},"states":"${states}","details":[${details.join(',')}]}`;
}

/** Splits `names=a,b` (and takes `name=` verbatim, for names that contain commas). */
function requestedNames(query: z.output<typeof gridQuery>): string[] | null {
  const names = [
    ...(query.names ?? []).flatMap((value) => value.split(',')).filter((name) => name !== ''),
    ...(query.name ?? []),
  ];
  return names.length === 0 ? null : [...new Set(names)];
}

/**
 * `GET /api/grid`. Identical requests (same names, window and columns, however spelled) share computations
 * through `flights`: concurrent ones share one, and one within `gridCacheMs` reuses the last, but never
 * one that started before a change that the event stream announced (see `VersionedSingleFlight`).
 */
export function gridRoutes(deps: RouteDeps, flights: VersionedSingleFlight<EncodedJson>) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const query = gridQuery.parse(queryInput(c, ['names', 'name']));
    const names = requestedNames(query);
    if (names && names.length > deps.limits.maxGridNames)
      throw badInput(`at most ${deps.limits.maxGridNames} names per grid request, got ${names.length}`);
    for (const name of names ?? []) {
      if ([...name].length > 200 || name.includes('\u0000'))
        throw badInput('a task name must be 1–200 characters without NUL');
    }
    const request = { names, from: query.from, to: query.to, columns: query.columns ?? 200 };
    const key = JSON.stringify([names, query.from.getTime(), query.to.getTime(), request.columns]);
    return sendEncoded(c, await flights.run(key, async () => encodeJson(await readGridJson(deps, request))));
  });
}
