import { formatInterval } from '@dtm/core';
import { Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { badInput } from '../http-error.ts';
import { queryInput } from '../query.ts';
import { readOnly } from '../read-only.ts';
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

/** One non-empty cell as aggregated in SQL: counts of the rows inside it by live state. */
interface CellRow {
  name: string;
  cell: string;
  failing: string;
  available: string;
  acquired: string;
  skip: string;
  complete: string;
  rows_past: string;
  failed_attempts: number;
  ranked_message: string | null;
  holder_worker: string | null;
  holder_since: Date | null;
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

/**
 * The grid: for each name, every expected slot of the window by its live state, MISSING where no row exists
 * (FUTURE when the slot has not started), bucketed to at most `columns` cells.
 *
 * One query aggregates the rows of every name by cell index over the primary-key range (so its cost grows
 * with the rows in the window, not with the bucket count), with the live overlay of the `holders` view
 * (read once); cells without rows, and the MISSING/FUTURE counts, are filled in here by arithmetic.
 */
export async function readGrid(deps: RouteDeps, request: GridRequest): Promise<GridBody> {
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
  const plans = planRows(names, request, deps.limits.maxGridSlotsPerName).filter(
    (plan) => plan.slotCount >= 0,
  );
  const queried = plans.filter((plan) => plan.slotCount > 0);
  const cellRows =
    queried.length === 0
      ? []
      : await readOnly<CellRow>(
          deps,
          `WITH p AS (
             SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::bigint[])
               AS p (name, first_slot, end_slot, first_ms, bucket_ms)
           ), held AS MATERIALIZED (
             SELECT lock_key, worker, since FROM ${s}.holders
           ), live AS (
             SELECT p.name,
                    (round(date_part('epoch', t.slot) * 1000)::bigint - p.first_ms) / p.bucket_ms AS cell,
                    CASE WHEN h.lock_key IS NOT NULL OR t.state = 'ACQUIRED' THEN 'ACQUIRED'
                         WHEN t.state = 'AVAILABLE' AND t.failed_attempts > 0 THEN 'FAILING'
                         ELSE t.state END AS live_state,
                    t.slot, t.failed_attempts, t.message, h.worker, h.since
             FROM p
             JOIN ${s}.tasks t ON t.name = p.name AND t.slot >= p.first_slot AND t.slot < p.end_slot
             -- the overlay: only AVAILABLE rows can be held, so only they need their lock key hashed
             LEFT JOIN held h
               ON h.lock_key = CASE WHEN t.state = 'AVAILABLE' THEN ${s}.slot_lock_key(t.name, t.slot) END
           )
           SELECT name, cell,
                  count(*) FILTER (WHERE live_state = 'FAILING') AS failing,
                  count(*) FILTER (WHERE live_state = 'AVAILABLE') AS available,
                  count(*) FILTER (WHERE live_state = 'ACQUIRED') AS acquired,
                  count(*) FILTER (WHERE live_state = 'SKIP') AS skip,
                  count(*) FILTER (WHERE live_state = 'COMPLETE') AS complete,
                  count(*) FILTER (WHERE slot <= $6) AS rows_past,
                  max(failed_attempts) AS failed_attempts,
                  -- the message of the worst slot that has one, prefixed by its state's rank
                  min(CASE live_state WHEN 'FAILING' THEN '0' WHEN 'AVAILABLE' THEN '2' WHEN 'ACQUIRED' THEN '3'
                                      WHEN 'SKIP' THEN '4' ELSE '5' END
                      || left(message, ${MESSAGE_LENGTH}) COLLATE "C") AS ranked_message,
                  min(worker) AS holder_worker,
                  min(since) AS holder_since
           FROM live
           GROUP BY name, cell`,
          [
            queried.map((plan) => plan.name),
            queried.map((plan) => new Date(plan.firstMs)),
            queried.map((plan) => new Date(plan.firstMs + plan.slotCount * plan.intervalMs)),
            queried.map((plan) => plan.firstMs),
            queried.map((plan) => plan.intervalMs * plan.slotsPerCell),
            now,
          ],
        );
  const cellsByName = new Map<string, Map<number, CellRow>>();
  for (const row of cellRows) {
    let cells = cellsByName.get(row.name);
    if (!cells) {
      cells = new Map();
      cellsByName.set(row.name, cells);
    }
    cells.set(Number(row.cell), row);
  }
  return {
    from: request.from.toISOString(),
    to: request.to.toISOString(),
    now: now.toISOString(),
    rows: plans.map((plan) => buildRow(plan, cellsByName.get(plan.name) ?? new Map(), now.getTime())),
  };
}

function buildRow(plan: RowPlan, found: Map<number, CellRow>, nowMs: number): GridRow {
  const cells: GridCell[] = [];
  const summary = { missing: 0, failing: 0, running: 0 };
  // Index of the last slot that has started (slot start <= now); slots after it are in the future.
  const lastPastIndex = Math.floor((nowMs - plan.firstMs) / plan.intervalMs);
  for (let cell = 0; cell < plan.cellCount; cell++) {
    const firstIndex = cell * plan.slotsPerCell;
    const slotsInCell = Math.min(plan.slotsPerCell, plan.slotCount - firstIndex);
    const pastExpected = Math.min(slotsInCell, Math.max(0, lastPastIndex - firstIndex + 1));
    const row = found.get(cell);
    const counts: Partial<Record<CellState, number>> = {};
    const add = (state: CellState, count: number) => {
      if (count > 0) counts[state] = count;
    };
    let rowsPast = 0;
    let rowsTotal = 0;
    if (row) {
      add('FAILING', Number(row.failing));
      add('AVAILABLE', Number(row.available));
      add('ACQUIRED', Number(row.acquired));
      add('SKIP', Number(row.skip));
      add('COMPLETE', Number(row.complete));
      rowsPast = Number(row.rows_past);
      rowsTotal =
        Number(row.failing) +
        Number(row.available) +
        Number(row.acquired) +
        Number(row.skip) +
        Number(row.complete);
    }
    add('MISSING', pastExpected - rowsPast);
    add('FUTURE', slotsInCell - pastExpected - (rowsTotal - rowsPast));
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
    const ranked = row?.ranked_message ?? null;
    const message = ranked !== null && Number(ranked[0]) === RANK[state] ? ranked.slice(1) : null;
    const startMs = plan.firstMs + firstIndex * plan.intervalMs;
    cells.push({
      start: new Date(startMs).toISOString(),
      end: new Date(startMs + slotsInCell * plan.intervalMs).toISOString(),
      state,
      counts,
      failedAttempts: row?.failed_attempts ?? 0,
      message,
      holder:
        row && Number(row.acquired) > 0
          ? { worker: row.holder_worker, since: row.holder_since ? row.holder_since.toISOString() : null }
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

/** `GET /api/grid`. */
export function gridRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const query = gridQuery.parse(queryInput(c, ['names', 'name']));
    const names = requestedNames(query);
    if (names && names.length > deps.limits.maxGridNames)
      throw badInput(`at most ${deps.limits.maxGridNames} names per grid request, got ${names.length}`);
    for (const name of names ?? []) {
      if ([...name].length > 200 || name.includes('\u0000'))
        throw badInput('a task name must be 1–200 characters without NUL');
    }
    const body = await readGrid(deps, {
      names,
      from: query.from,
      to: query.to,
      columns: query.columns ?? 200,
    });
    return c.json(body);
  });
}
