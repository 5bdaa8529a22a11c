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
import {
  AVAILABLE,
  epochMs,
  HAS_MESSAGE,
  MESSAGE_LENGTH,
  type NameSlots,
  NO_ROW,
  SKIP,
  STATE_MASK,
} from '../slot-index.ts';

/** What one grid request asks for. */
export interface GridRequest {
  /** Null: every name. */
  names: string[] | null;
  from: Date;
  to: Date;
  columns: number;
}

/** One name's slots in the window (its interval's, aligned to its origin) and how they are bucketed. */
interface RowPlan {
  slots: NameSlots;
  /** First slot at or after `from`. */
  firstMs: number;
  /** Slots in [from, to), those before the name's first slot included. */
  slotCount: number;
  slotsPerCell: number;
  cellCount: number;
}

/** A live holder: `[slotMs, worker, sinceMs]`. */
type HeldSlot = [number, string | null, number | null];

/** A cell's detail tuple before its message is known: the message is that of `messageSlot` (epoch ms). */
interface PendingDetail {
  cell: number;
  counted: string;
  failedAttempts: number;
  messageSlot: number | null;
  holder: HeldSlot | undefined;
}

/** One grid row before its messages are read. */
interface RowCells {
  plan: RowPlan;
  states: string;
  details: PendingDetail[];
  missing: number;
  failing: number;
  running: number;
}

/** Plans the rows: per name, the aligned slots in [from, to) and the bucket size. */
function planRows(names: NameSlots[], request: GridRequest, maxSlotsPerName: number): RowPlan[] {
  const fromMs = request.from.getTime();
  const toMs = request.to.getTime();
  return names.map((slots) => {
    const { intervalMs, originMs } = slots;
    const firstMs = originMs + Math.ceil((fromMs - originMs) / intervalMs) * intervalMs;
    const slotCount = Math.max(0, Math.ceil((toMs - firstMs) / intervalMs));
    if (slotCount > maxSlotsPerName) {
      throw badInput(
        `the window holds ${slotCount} slots of ${JSON.stringify(slots.name)} (${formatInterval(intervalMs)}); at most ${maxSlotsPerName} per name: choose a shorter window`,
      );
    }
    const slotsPerCell = Math.max(1, Math.ceil(slotCount / request.columns));
    return { slots, firstMs, slotCount, slotsPerCell, cellCount: Math.ceil(slotCount / slotsPerCell) };
  });
}

/**
 * The live holders in [`$2`, `$3`) of the names `$1` (null: every name): the one figure of the grid that the
 * slot index cannot know (see `SlotIndex`).
 */
export function gridHoldersSql(s: string): string {
  return `SELECT h.name, ${epochMs('h.slot')} AS slot_ms, h.worker, ${epochMs('h.since')} AS since_ms
     FROM (${heldRowsSql(s)}) h
     WHERE ($1::text[] IS NULL OR h.name = ANY($1)) AND h.slot >= $2 AND h.slot < $3`;
}

/**
 * The grid as the JSON text of `gridResponse`: for each name, every slot of the window by its live state,
 * MISSING where no row exists (FUTURE when the slot has not started), BEFORE_FIRST before the name's first
 * slot (not expected, so not a gap), bucketed to at most `columns` cells.
 *
 * The slots come from the slot index (memory, current as of the request) and the live holders of the window
 * from the database, read at the same time; then the messages of the cells that show one, by primary key.
 * The JSON is written directly in the compact form of `gridRowSchema` (a letter per cell, details only where
 * a letter does not say everything), so that its size grows with what is not plainly one state.
 */
export async function readGridJson(
  deps: RouteDeps,
  request: GridRequest,
  options: { onQuery?: (text: string, values: unknown[]) => void } = {},
): Promise<string> {
  if (request.from > request.to) {
    throw badInput(
      `inverted range: from ${request.from.toISOString()} is after to ${request.to.toISOString()}`,
    );
  }
  const now = deps.now();
  const holdersText = gridHoldersSql(deps.schemaSql);
  const holdersValues = [request.names, request.from, request.to];
  options.onQuery?.(holdersText, holdersValues);
  const [index, holders] = await Promise.all([
    deps.slots.read(request.names),
    readOnly<{ name: string; slot_ms: number; worker: string | null; since_ms: number | null }>(
      deps,
      holdersText,
      holdersValues,
    ),
  ]);
  const names = request.names ?? [...index.keys()].sort();
  const unknown = names.filter((name) => !index.has(name));
  if (unknown.length > 0) {
    const listed = unknown
      .slice(0, 5)
      .map((name) => JSON.stringify(name.slice(0, 100)))
      .join(', ');
    throw badInput(`unknown task name${unknown.length > 1 ? 's' : ''}: ${listed}`);
  }
  const heldByName = new Map<string, Map<number, HeldSlot>>();
  for (const row of holders) {
    let held = heldByName.get(row.name);
    if (!held) {
      held = new Map();
      heldByName.set(row.name, held);
    }
    held.set(row.slot_ms, [row.slot_ms, row.worker, row.since_ms]);
  }
  const plans = planRows(
    names.map((name) => index.get(name) as NameSlots),
    request,
    deps.limits.maxGridSlotsPerName,
  );
  const nowMs = now.getTime();
  const rows = plans.map((plan) => cellsOf(plan, heldByName.get(plan.slots.name), nowMs));
  const messageOf = await readMessages(deps, rows);
  const messages = new MessageTable();
  const rowsJson = rows.map((row) => rowJson(row, messageOf, messages));
  return `{"from":"${request.from.toISOString()}","to":"${request.to.toISOString()}","now":"${now.toISOString()}","messages":${messages.toJson()},"rows":[${rowsJson.join(',')}]}`;
}

/**
 * The messages the cells show, by `name` and slot epoch ms (`${name}\u0000${slotMs}`): from the index where
 * it keeps them, else from the table by primary key.
 */
async function readMessages(deps: RouteDeps, rows: RowCells[]): Promise<Map<string, string>> {
  const messages = new Map<string, string>();
  const names: string[] = [];
  const slots: Date[] = [];
  for (const row of rows) {
    const { name } = row.plan.slots;
    for (const detail of row.details) {
      if (detail.messageSlot === null) continue;
      const kept = row.plan.slots.messageAt(detail.messageSlot);
      if (kept !== undefined) messages.set(`${name}\u0000${detail.messageSlot}`, kept);
      else {
        names.push(name);
        slots.push(new Date(detail.messageSlot));
      }
    }
  }
  if (names.length === 0) return messages;
  const found = await readOnly<{ name: string; slot_ms: number; message: string }>(
    deps,
    `SELECT t.name, ${epochMs('t.slot')} AS slot_ms, left(t.message, ${MESSAGE_LENGTH}) AS message
     FROM unnest($1::text[], $2::timestamptz[]) k (name, slot)
     JOIN ${deps.schemaSql}.tasks t ON t.name = k.name AND t.slot = k.slot
     WHERE t.message IS NOT NULL`,
    [names, slots],
  );
  for (const row of found) messages.set(`${row.name}\u0000${row.slot_ms}`, row.message);
  return messages;
}

const STATE_COUNT = CELL_STATES_WORST_FIRST.length;
const INDEX_OF = Object.fromEntries(CELL_STATES_WORST_FIRST.map((state, i) => [state, i])) as Record<
  CellState,
  number
>;

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

/**
 * One grid row's cells: the states as one letter each (`CELL_STATE_CODES`), and a detail for the cells that
 * a letter does not describe fully (several states among their slots, failed attempts, a message, a holder).
 * A cell's message is that of its first slot, in the cell's state, that has one; in cells of several slots,
 * plain COMPLETE slots (no failed attempt) are not looked at, so that a worker's routine completion messages
 * do not turn every bucket into a detail.
 */
function cellsOf(plan: RowPlan, held: Map<number, HeldSlot> | undefined, nowMs: number): RowCells {
  const { slots, firstMs, slotCount, slotsPerCell, cellCount } = plan;
  const { intervalMs, firstSlotMs } = slots;
  const isDetailed = slotsPerCell === 1;
  const counts = new Array<number>(STATE_COUNT);
  const bump = (i: number) => {
    counts[i] = (counts[i] as number) + 1;
  };
  let states = '';
  const details: PendingDetail[] = [];
  let missing = 0;
  let failing = 0;
  let running = 0;
  for (let cell = 0; cell < cellCount; cell++) {
    counts.fill(0);
    let failedAttempts = 0;
    let messageRank: number = STATE_COUNT;
    let messageSlot = 0;
    let holder: HeldSlot | undefined;
    const end = Math.min(slotCount, (cell + 1) * slotsPerCell);
    for (let k = cell * slotsPerCell; k < end; k++) {
      const slotMs = firstMs + k * intervalMs;
      // Before the name's first slot (or any slot, for a name without rows) nothing is expected.
      if (!(slotMs >= firstSlotMs)) {
        bump(INDEX_OF.BEFORE_FIRST);
        continue;
      }
      const entry = slots.stateAt(slotMs);
      const state = entry & STATE_MASK;
      if (state === NO_ROW) {
        bump(slotMs > nowMs ? INDEX_OF.FUTURE : INDEX_OF.MISSING);
        continue;
      }
      const attempts = slots.attemptsAt(slotMs);
      if (attempts > failedAttempts) failedAttempts = attempts;
      // The live overlay: a held slot's committed row is AVAILABLE; it reads ACQUIRED.
      const holderHere = state === AVAILABLE ? held?.get(slotMs) : undefined;
      if (holderHere) {
        bump(INDEX_OF.ACQUIRED);
        holder ??= holderHere;
        continue;
      }
      const rank =
        state === AVAILABLE
          ? attempts > 0
            ? INDEX_OF.FAILING
            : INDEX_OF.AVAILABLE
          : state === SKIP
            ? INDEX_OF.SKIP
            : INDEX_OF.COMPLETE;
      bump(rank);
      const isLookedAt = isDetailed || rank !== INDEX_OF.COMPLETE || attempts > 0;
      if ((entry & HAS_MESSAGE) !== 0 && isLookedAt && rank < messageRank) {
        messageRank = rank;
        messageSlot = slotMs;
      }
    }
    let worst: number = STATE_COUNT - 1;
    let statesInCell = 0;
    for (let i = STATE_COUNT - 1; i >= 0; i--) {
      if ((counts[i] as number) > 0) {
        worst = i;
        statesInCell++;
      }
    }
    states += CELL_STATE_CODES[worst];
    missing += counts[INDEX_OF.MISSING] as number;
    failing += counts[INDEX_OF.FAILING] as number;
    running += counts[INDEX_OF.ACQUIRED] as number;
    let counted = '';
    if (statesInCell > 1) {
      for (let i = 0; i < STATE_COUNT; i++) {
        if ((counts[i] as number) > 0) counted += `${CELL_STATE_CODES[i]}${counts[i]}`;
      }
    }
    const hasMessage = messageRank === worst;
    if (counted !== '' || failedAttempts > 0 || hasMessage || holder) {
      details.push({ cell, counted, failedAttempts, messageSlot: hasMessage ? messageSlot : null, holder });
    }
  }
  return { plan, states, details, missing, failing, running };
}

/**
 * One grid row as JSON text, in the compact form of `gridRowSchema`: each detail tuple
 * `[cell, counts, failedAttempts, message, holder]` with its trailing defaults left out. Cell boundaries
 * are not sent: they follow from `firstStart`, `intervalMs`, `slotsPerCell` and `slotCount`.
 */
function rowJson(row: RowCells, messageOf: Map<string, string>, messages: MessageTable): string {
  const { plan } = row;
  const { name, intervalMs } = plan.slots;
  const details = row.details.map((detail) => {
    const text =
      detail.messageSlot === null ? undefined : messageOf.get(`${name}\u0000${detail.messageSlot}`);
    const message = text === undefined ? -1 : messages.indexOf(text);
    let tail = '';
    if (detail.holder) {
      const [, worker, sinceMs] = detail.holder;
      const since = sinceMs === null ? 'null' : `"${new Date(sinceMs).toISOString()}"`;
      tail = `,{"worker":${JSON.stringify(worker)},"since":${since}}`;
    }
    if (message >= 0 || tail !== '') tail = `,${message >= 0 ? message : 'null'}${tail}`;
    if (detail.failedAttempts > 0 || tail !== '') tail = `,${detail.failedAttempts}${tail}`;
    if (detail.counted !== '' || tail !== '')
      tail = `,${detail.counted === '' ? 'null' : `"${detail.counted}"`}${tail}`;
    return `[${detail.cell}${tail}]`;
  });
  return `{"name":${JSON.stringify(name)},"interval":"${formatInterval(intervalMs)}","intervalMs":${intervalMs},"firstStart":"${new Date(plan.firstMs).toISOString()}","slotsPerCell":${plan.slotsPerCell},"slotCount":${plan.slotCount},"cellCount":${plan.cellCount},"summary":{"missing":${row.missing},"failing":${row.failing},"running":${row.running}},"states":"${row.states}","details":[${details.join(',')}]}`;
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
