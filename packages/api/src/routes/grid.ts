import { CELL_STATE_CODES, CELL_STATES_WORST_FIRST, type Grid, type GridRow } from '@dtm/core';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { Limits, RouteDeps } from '../deps.ts';
import { type EncodedJson, encodeJson, sendEncoded } from '../encoded-json.ts';
import { badInput } from '../http-error.ts';
import { ERRORS, jsonResponse } from '../openapi.ts';
import { gridQuery, gridResponse } from '../schemas.ts';
import type { VersionedSingleFlight } from '../single-flight.ts';

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

/** The wire letter of each cell state. */
const LETTER = Object.fromEntries(
  CELL_STATES_WORST_FIRST.map((state, i) => [state, CELL_STATE_CODES[i]]),
) as Record<(typeof CELL_STATES_WORST_FIRST)[number], string>;

/**
 * One grid row as JSON text, in the compact form of `gridRowSchema`: a letter per cell, and a detail tuple
 * `[cell, counts, failedAttempts, message, holder]` (trailing defaults left out) only for the cells that a
 * letter does not describe fully, so that the size grows with what is not plainly one state.
 */
function rowJson(row: GridRow, messages: MessageTable): string {
  let states = '';
  const details: string[] = [];
  row.cells.forEach((cell, i) => {
    states += LETTER[cell.state];
    let counted = '';
    let kinds = 0;
    for (const state of CELL_STATES_WORST_FIRST) {
      const count = cell.counts[state];
      if (!count) continue;
      kinds += 1;
      counted += `${LETTER[state]}${count}`;
    }
    if (kinds < 2) counted = '';
    let tail = '';
    if (cell.holder) {
      const since = cell.holder.since === null ? 'null' : `"${cell.holder.since.toISOString()}"`;
      tail = `,{"worker":${JSON.stringify(cell.holder.worker)},"since":${since}}`;
    }
    if (cell.message !== null || tail !== '')
      tail = `,${cell.message === null ? 'null' : messages.indexOf(cell.message)}${tail}`;
    if (cell.failedAttempts > 0 || tail !== '') tail = `,${cell.failedAttempts}${tail}`;
    if (counted !== '' || tail !== '') tail = `,${counted === '' ? 'null' : `"${counted}"`}${tail}`;
    if (tail !== '') details.push(`[${i}${tail}]`);
  });
  const { summary } = row;
  return `{"name":${JSON.stringify(row.name)},"interval":"${row.interval}","intervalMs":${row.intervalMs},"firstStart":"${row.start.toISOString()}","slotsPerCell":${row.slotsPerCell},"firstCellSlots":${row.firstCellSlots},"slotCount":${row.slotCount},"cellCount":${row.cells.length},"summary":{"missing":${summary.missing},"failing":${summary.failing},"running":${summary.running}},"states":"${states}","details":[${details.join(',')}]}`;
}

/** The grid as the JSON text of `gridResponse`. */
export function gridJson(grid: Grid): string {
  const messages = new MessageTable();
  const rows = grid.rows.map((row) => rowJson(row, messages));
  return `{"from":"${grid.from.toISOString()}","to":"${grid.to.toISOString()}","now":"${grid.now.toISOString()}","messages":${messages.toJson()},"rows":[${rows.join(',')}]}`;
}

/** Splits `names=a,b` (and takes `name=` verbatim, for names that contain commas). */
function requestedNames(query: z.output<typeof gridQuery>): string[] | null {
  const names = [
    ...(query.names ?? []).flatMap((value) => value.split(',')).filter((name) => name !== ''),
    ...(query.name ?? []),
  ];
  return names.length === 0 ? null : [...new Set(names)];
}

function gridRoute(limits: Limits) {
  return createRoute({
    method: 'get',
    path: '/',
    summary:
      'The matrix of names × slots the dashboard draws, with MISSING/FUTURE/BEFORE_FIRST cells and buckets',
    description: `Cells are bucketed so that a row has at most \`columns\` cells; at most ${limits.maxGridNames} names per request; a request costs its cells, not the slots they cover. A cell's state is the worst inside it, in the order ${CELL_STATES_WORST_FIRST.join(', ')} (MISSING: a gap, from the name's first slot on; BEFORE_FIRST: before the name's first slot, not expected), sent as one letter per cell in a row's \`states\`; cells whose slots are in several states, or that have failed attempts, a message or a holder, also have an entry in \`details\`. Cell boundaries follow from \`firstStart\`, \`intervalMs\`, \`firstCellSlots\`, \`slotsPerCell\` and \`slotCount\`.`,
    request: { query: gridQuery },
    responses: { 200: jsonResponse('The grid', gridResponse), 400: ERRORS[400], 404: ERRORS[404] },
  });
}

/**
 * `GET /api/grid`: the core's grid (`TaskManager.grid`). Identical requests (same names, window and columns,
 * however spelled) share computations through `flights`: concurrent ones share one, and one within
 * `gridCacheMs` reuses the last, but never one that started before a change that the event stream announced
 * (see `VersionedSingleFlight`).
 */
export function gridRoutes(deps: RouteDeps, flights: VersionedSingleFlight<EncodedJson>) {
  return new OpenAPIHono<AppEnv>().openapi(gridRoute(deps.limits), async (c) => {
    const query = c.req.valid('query');
    const names = requestedNames(query);
    if (names && names.length > deps.limits.maxGridNames)
      throw badInput(`at most ${deps.limits.maxGridNames} names per grid request, got ${names.length}`);
    const request = { names, from: query.from, to: query.to, columns: query.columns ?? 200 };
    const key = JSON.stringify([names, query.from.getTime(), query.to.getTime(), request.columns]);
    return sendEncoded<z.output<typeof gridResponse>>(
      c,
      await flights.run(key, async () =>
        encodeJson(gridJson(await deps.tm.grid({ ...request, now: deps.now() }))),
      ),
    );
  });
}
