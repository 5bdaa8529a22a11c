import { formatInterval } from '@dtm/core';
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { badInput } from '../http-error.ts';
import { queryInput } from '../query.ts';
import { heldRowsSql, readOnly } from '../read-only.ts';
import { CELL_STATES_WORST_FIRST, type CellState, gridQuery, type gridResponse } from '../schemas.ts';

type GridBody = z.output<typeof gridResponse>;
type GridRow = GridBody['rows'][number];
type GridCell = GridRow['cells'][number];

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

/** One name's expected slots in the window and how they are bucketed. */
interface RowPlan {
  name: string;
  intervalMs: number;
  /** First expected slot at or after `from`. */
  firstMs: number;
  /** Expected slots in [from, to). */
  slotCount: number;
  slotsPerCell: number;
  cellCount: number;
}

/** Per cell, the rows that are not plain COMPLETE (or every row, for one-slot cells), by committed state. */
interface DetailRow {
  i: number;
  cell: string;
  failing: string;
  available: string;
  skip: string;
  complete: string;
  rows_past: string;
  failed_attempts: number;
  ranked_message: string | null;
}

/** Per name: how many rows the window holds, and the first and last. */
interface TotalRow {
  i: number;
  n: string;
  first_slot: Date | null;
  last_slot: Date | null;
}

/** Per cell of a name with gaps inside its rows: rows, and rows that have started by now. */
interface BucketRow {
  i: number;
  cell: string;
  n: string;
  n_past: string;
}

interface HeldRow {
  name: string;
  slot: Date;
  failed_attempts: number;
  worker: string | null;
  since: Date | null;
}

const RANK = Object.fromEntries(CELL_STATES_WORST_FIRST.map((state, i) => [state, i])) as Record<
  CellState,
  number
>;
const MESSAGE_LENGTH = 200;

/** Plans the rows: per name, the aligned expected slots in [from, to) and the bucket size. */
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

/** `p`: one row per planned name, with its index `i`, slot range and bucket size (`$1…$6`). */
const PLAN_ROWS = `p AS (
     SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::boolean[])
       WITH ORDINALITY AS p (name, first_slot, end_slot, first_ms, bucket_ms, is_detailed, i)
   )`;

/**
 * The rows worth a look, per cell: AVAILABLE and SKIP ones, COMPLETE ones that needed retries, and (for
 * one-slot cells, `is_detailed`) every row. Each branch is a range scan of a partial index (sql/000002.sql),
 * so a window of COMPLETE slots costs next to nothing here; their count comes from `gridTotalsSql`.
 */
export function gridDetailsSql(s: string): string {
  const range = 't.name = p.name AND t.slot >= p.first_slot AND t.slot < p.end_slot';
  const columns = 't.slot, t.state, t.failed_attempts, t.message';
  return `WITH ${PLAN_ROWS}
   SELECT p.i, c.*
   FROM p
   CROSS JOIN LATERAL (
     SELECT (round(date_part('epoch', r.slot) * 1000)::bigint - p.first_ms) / p.bucket_ms AS cell,
            count(*) FILTER (WHERE r.state = 'AVAILABLE' AND r.failed_attempts > 0) AS failing,
            count(*) FILTER (WHERE r.state = 'AVAILABLE' AND r.failed_attempts = 0) AS available,
            count(*) FILTER (WHERE r.state = 'SKIP') AS skip,
            count(*) FILTER (WHERE r.state NOT IN ('AVAILABLE', 'SKIP')) AS complete,
            count(*) FILTER (WHERE r.slot <= $7) AS rows_past,
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
   ) c`;
}

/** Per name, the rows in the window and the first and last of them: an index-only scan of the primary key. */
export function gridTotalsSql(s: string): string {
  return `WITH ${PLAN_ROWS}
   SELECT p.i, c.*
   FROM p
   CROSS JOIN LATERAL (
     SELECT count(*) AS n, min(t.slot) AS first_slot, max(t.slot) AS last_slot
     FROM ${s}.tasks t
     WHERE t.name = p.name AND t.slot >= p.first_slot AND t.slot < p.end_slot
   ) c`;
}

/** Rows per cell, for the names whose rows have gaps between them (so that counts are not arithmetic). */
export function gridBucketsSql(s: string): string {
  return `WITH ${PLAN_ROWS}
   SELECT p.i, c.*
   FROM p
   CROSS JOIN LATERAL (
     SELECT (round(date_part('epoch', t.slot) * 1000)::bigint - p.first_ms) / p.bucket_ms AS cell,
            count(*) AS n,
            count(*) FILTER (WHERE t.slot <= $7) AS n_past
     FROM ${s}.tasks t
     WHERE t.name = p.name AND t.slot >= p.first_slot AND t.slot < p.end_slot
     GROUP BY 1
   ) c`;
}

/** What the queries found about one name. */
interface NameFacts {
  details: Map<number, DetailRow>;
  total: TotalRow | null;
  /** Rows per cell; set only for names whose rows have gaps between them. */
  buckets: Map<number, BucketRow> | null;
  held: HeldRow[];
}

function emptyFacts(): NameFacts {
  return { details: new Map(), total: null, buckets: null, held: [] };
}

/** Whether the name's rows in the window have no gaps between the first and the last. */
function isContiguous(plan: RowPlan, total: TotalRow | null | undefined): boolean {
  const n = Number(total?.n ?? 0);
  if (n === 0 || !total?.first_slot || !total.last_slot) return true;
  return (total.last_slot.getTime() - total.first_slot.getTime()) / plan.intervalMs + 1 === n;
}

function planValues(plans: RowPlan[], now: Date): unknown[] {
  return [
    plans.map((plan) => plan.name),
    plans.map((plan) => new Date(plan.firstMs)),
    plans.map((plan) => new Date(plan.firstMs + plan.slotCount * plan.intervalMs)),
    plans.map((plan) => plan.firstMs),
    plans.map((plan) => plan.intervalMs * plan.slotsPerCell),
    plans.map((plan) => plan.slotsPerCell === 1),
    now,
  ];
}

/** Count of integers in both [a0, a1] and [b0, b1]. */
function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0) + 1);
}

/**
 * The grid: for each name, every expected slot of the window by its live state, MISSING where no row exists
 * (FUTURE when the slot has not started), bucketed to at most `columns` cells.
 *
 * The work in SQL grows with the rows that are not plainly COMPLETE, not with the window: COMPLETE slots
 * are counted by arithmetic when a name's rows have no gaps between them (an index-only count, first and
 * last), and grouped per cell only for names that have such gaps. The live overlay comes from the few
 * holders (`heldRowsSql`). The queries run side by side on the API's pool.
 */
export async function readGrid(
  deps: RouteDeps,
  request: GridRequest,
  options: { onQuery?: (text: string, values: unknown[]) => void } = {},
): Promise<GridBody> {
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
  if (queried.length === 0) {
    return {
      from: request.from.toISOString(),
      to: request.to.toISOString(),
      now: now.toISOString(),
      rows: plans.map((plan) => buildRow(plan, emptyFacts(), now.getTime())),
    };
  }
  const values = planValues(queried, now);
  const detailsText = gridDetailsSql(s);
  options.onQuery?.(detailsText, values);
  const [details, totals, held] = await Promise.all([
    readOnly<DetailRow>(deps, detailsText, values),
    readOnly<TotalRow>(deps, gridTotalsSql(s), values.slice(0, 6)),
    readOnly<HeldRow>(deps, `SELECT * FROM (${heldRowsSql(s)}) h WHERE h.name = ANY($1)`, [
      queried.map((plan) => plan.name),
    ]),
  ]);
  const facts = queried.map(() => emptyFacts());
  for (const row of details) facts[Number(row.i) - 1]?.details.set(Number(row.cell), row);
  for (const row of totals) {
    const fact = facts[Number(row.i) - 1];
    if (fact) fact.total = row;
  }
  // Names whose rows have gaps between them need their rows counted per cell.
  const gapped = queried
    .map((plan, index) => ({ plan, index }))
    .filter(({ plan, index }) => plan.slotsPerCell > 1 && !isContiguous(plan, facts[index]?.total));
  if (gapped.length > 0) {
    const buckets = await readOnly<BucketRow>(
      deps,
      gridBucketsSql(s),
      planValues(
        gapped.map((g) => g.plan),
        now,
      ),
    );
    const bucketMaps = gapped.map(({ index }) => {
      const map = new Map<number, BucketRow>();
      const fact = facts[index];
      if (fact) fact.buckets = map;
      return map;
    });
    for (const row of buckets) bucketMaps[Number(row.i) - 1]?.set(Number(row.cell), row);
  }
  const byName = new Map(queried.map((plan, index) => [plan.name, facts[index] ?? emptyFacts()]));
  for (const row of held) byName.get(row.name)?.held.push(row);
  return {
    from: request.from.toISOString(),
    to: request.to.toISOString(),
    now: now.toISOString(),
    rows: plans.map((plan) => buildRow(plan, byName.get(plan.name) ?? emptyFacts(), now.getTime())),
  };
}

function buildRow(plan: RowPlan, facts: NameFacts, nowMs: number): GridRow {
  const cells: GridCell[] = [];
  const summary = { missing: 0, failing: 0, running: 0 };
  const isDetailed = plan.slotsPerCell === 1;
  // Index of the last slot that has started (slot start <= now); slots after it are in the future.
  const lastPastIndex = Math.floor((nowMs - plan.firstMs) / plan.intervalMs);
  const total = facts.total;
  const hasRows =
    total !== null && Number(total.n) > 0 && total.first_slot !== null && total.last_slot !== null;
  const firstRow =
    hasRows && total.first_slot ? (total.first_slot.getTime() - plan.firstMs) / plan.intervalMs : 0;
  const lastRow =
    hasRows && total.last_slot ? (total.last_slot.getTime() - plan.firstMs) / plan.intervalMs : -1;
  const heldByCell = new Map<number, HeldRow[]>();
  for (const row of facts.held) {
    const index = (row.slot.getTime() - plan.firstMs) / plan.intervalMs;
    if (index < 0 || index >= plan.slotCount || !Number.isInteger(index)) continue;
    const cell = Math.floor(index / plan.slotsPerCell);
    heldByCell.set(cell, [...(heldByCell.get(cell) ?? []), row]);
  }
  for (let cell = 0; cell < plan.cellCount; cell++) {
    const firstIndex = cell * plan.slotsPerCell;
    const slotsInCell = Math.min(plan.slotsPerCell, plan.slotCount - firstIndex);
    const lastIndex = firstIndex + slotsInCell - 1;
    const pastExpected = Math.min(slotsInCell, Math.max(0, lastPastIndex - firstIndex + 1));
    const detail = facts.details.get(cell);
    let failing = Number(detail?.failing ?? 0);
    let available = Number(detail?.available ?? 0);
    const skip = Number(detail?.skip ?? 0);
    let rows: number;
    let rowsPast: number;
    if (isDetailed) {
      rows = failing + available + skip + Number(detail?.complete ?? 0);
      rowsPast = Number(detail?.rows_past ?? 0);
    } else if (facts.buckets) {
      const bucket = facts.buckets.get(cell);
      rows = Number(bucket?.n ?? 0);
      rowsPast = Number(bucket?.n_past ?? 0);
    } else {
      rows = overlap(firstRow, lastRow, firstIndex, lastIndex);
      rowsPast = overlap(firstRow, Math.min(lastRow, lastPastIndex), firstIndex, lastIndex);
    }
    const complete = rows - failing - available - skip;
    // The live overlay: a held slot's committed row is AVAILABLE (failing or not); it reads ACQUIRED.
    const holders = heldByCell.get(cell) ?? [];
    for (const held of holders) {
      if (held.failed_attempts > 0) failing = Math.max(0, failing - 1);
      else available = Math.max(0, available - 1);
    }
    const counts: Partial<Record<CellState, number>> = {};
    const add = (state: CellState, count: number) => {
      if (count > 0) counts[state] = count;
    };
    add('FAILING', failing);
    add('AVAILABLE', available);
    add('ACQUIRED', holders.length);
    add('SKIP', skip);
    add('COMPLETE', complete);
    add('MISSING', pastExpected - rowsPast);
    add('FUTURE', slotsInCell - pastExpected - (rows - rowsPast));
    let state: CellState = 'FUTURE';
    for (const candidate of CELL_STATES_WORST_FIRST) {
      if (counts[candidate]) {
        state = candidate;
        break;
      }
    }
    summary.missing += counts.MISSING ?? 0;
    summary.failing += counts.FAILING ?? 0;
    summary.running += counts.ACQUIRED ?? 0;
    const ranked = detail?.ranked_message ?? null;
    const message = ranked !== null && Number(ranked[0]) === RANK[state] ? ranked.slice(1) : null;
    const startMs = plan.firstMs + firstIndex * plan.intervalMs;
    const holder = holders[0];
    cells.push({
      start: new Date(startMs).toISOString(),
      end: new Date(startMs + slotsInCell * plan.intervalMs).toISOString(),
      state,
      counts,
      failedAttempts: detail?.failed_attempts ?? 0,
      message,
      holder: holder
        ? { worker: holder.worker, since: holder.since ? holder.since.toISOString() : null }
        : null,
    });
  }
  return {
    name: plan.name,
    interval: formatInterval(plan.intervalMs),
    intervalMs: plan.intervalMs,
    slotsPerCell: plan.slotsPerCell,
    summary,
    cells,
  };
}

/** Splits `names=a,b` (and takes `name=` verbatim, for names that contain commas). */
function requestedNames(query: z.output<typeof gridQuery>): string[] | null {
  const names = [
    ...(query.names ?? []).flatMap((value) => value.split(',')).filter((name) => name !== ''),
    ...(query.name ?? []),
  ];
  return names.length === 0 ? null : [...new Set(names)];
}

const MAX_CACHED_GRIDS = 20;

/**
 * Identical grid requests within `gridCacheMs` share one computation and its JSON (single flight, then a
 * short reuse). Keyed by the parsed request, so spelling differences of the same window share too.
 */
class GridCache {
  readonly #entries = new Map<string, { at: number; json: Promise<string> }>();

  get(key: string, ttlMs: number, compute: () => Promise<string>): Promise<string> {
    if (ttlMs <= 0) return compute();
    const now = Date.now();
    const hit = this.#entries.get(key);
    if (hit && now - hit.at <= ttlMs) return hit.json;
    const json = compute();
    this.#entries.delete(key);
    this.#entries.set(key, { at: now, json });
    json.catch(() => this.#entries.delete(key));
    for (const [old, entry] of this.#entries) {
      if (this.#entries.size <= MAX_CACHED_GRIDS && now - entry.at <= ttlMs) break;
      this.#entries.delete(old);
    }
    return json;
  }
}

/** `GET /api/grid`. */
export function gridRoutes(deps: RouteDeps) {
  const cache = new GridCache();
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
    // Keyed by the hub's change count too: a client that refetches because of an event never gets a grid
    // computed before that event.
    const key = JSON.stringify([
      deps.events.changes,
      names,
      query.from.getTime(),
      query.to.getTime(),
      request.columns,
    ]);
    const json = await cache.get(key, deps.limits.gridCacheMs, async () =>
      JSON.stringify(await readGrid(deps, request)),
    );
    return c.body(json, 200, { 'Content-Type': 'application/json' });
  });
}
