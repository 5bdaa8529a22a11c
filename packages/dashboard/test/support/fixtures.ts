/** Wire-format builders (what the API sends), for tests. */
import type { WireCellDetail, WireGrid, WireGridRow } from '../../src/api/grid.ts';
import {
  CELL_STATE_CODES,
  CELL_STATES_WORST_FIRST,
  type CellState,
  type WireHolder,
} from '../../src/api/types.ts';

export const FROM = Date.parse('2026-11-28T00:00:00.000Z');
export const STEP = 5 * 60_000;

/** What a test says of one cell beyond its state (the rest as a single-slot cell of that state has it). */
export interface CellExtra {
  counts?: Partial<Record<CellState, number>>;
  failedAttempts?: number;
  message?: string | null;
  holder?: WireHolder | null;
}

/** A row as tests describe it: a state per single-slot cell, and extras by cell index. */
export interface FixtureRow {
  name: string;
  states: CellState[];
  extra: Partial<Record<number, CellExtra>>;
  summary: { missing: number; failing: number; running: number };
}

/** A row of single-slot cells from {@link FROM}, one per state given (FAILING ones with 2 attempts). */
export function wireRow(
  name: string,
  states: CellState[],
  extra: Partial<Record<number, CellExtra>> = {},
  summary = { missing: 0, failing: 0, running: 0 },
): FixtureRow {
  return { name, states, extra, summary };
}

const codeOf = (state: CellState) => CELL_STATE_CODES[CELL_STATES_WORST_FIRST.indexOf(state)] ?? '?';

/** Encodes a row in the compact wire format, adding its messages to `messages`. */
function encodeRow(row: FixtureRow, messages: string[]): WireGridRow {
  const details: WireCellDetail[] = [];
  row.states.forEach((state, cell) => {
    const extra = { failedAttempts: state === 'FAILING' ? 2 : 0, ...row.extra[cell] };
    const counts = extra.counts
      ? Object.entries(extra.counts)
          .filter(([, n]) => (n ?? 0) > 0)
          .sort(
            ([a], [b]) =>
              CELL_STATES_WORST_FIRST.indexOf(a as CellState) -
              CELL_STATES_WORST_FIRST.indexOf(b as CellState),
          )
          .map(([s, n]) => `${codeOf(s as CellState)}${n}`)
          .join('')
      : null;
    let message: number | null = null;
    if (extra.message) {
      message = messages.indexOf(extra.message);
      if (message < 0) message = messages.push(extra.message) - 1;
    }
    if (counts || extra.failedAttempts || message !== null || extra.holder) {
      details.push([cell, counts, extra.failedAttempts, message, extra.holder ?? null]);
    }
  });
  return {
    name: row.name,
    interval: 'PT5M',
    intervalMs: STEP,
    firstStart: new Date(FROM).toISOString(),
    slotsPerCell: 1,
    firstCellSlots: 1,
    slotCount: row.states.length,
    cellCount: row.states.length,
    summary: row.summary,
    states: row.states.map(codeOf).join(''),
    details,
  };
}

/** A wire grid over {@link FROM} + `slots` × 5 min. */
export function wireGrid(rows: FixtureRow[], slots = 12): WireGrid {
  const messages: string[] = [];
  return {
    from: new Date(FROM).toISOString(),
    to: new Date(FROM + slots * STEP).toISOString(),
    now: new Date(FROM + slots * STEP).toISOString(),
    messages,
    rows: rows.map((row) => encodeRow(row, messages)),
  };
}

/** A wire task row. */
export function wireTask(overrides: Record<string, unknown> = {}) {
  return {
    name: 'alpha',
    slot: new Date(FROM).toISOString(),
    interval: 'PT5M',
    intervalMs: STEP,
    state: 'COMPLETE',
    createdBy: 'scheduler',
    createdAt: new Date(FROM).toISOString(),
    acquiredBy: 'worker-1',
    acquiredAt: new Date(FROM + 1000).toISOString(),
    completedAt: new Date(FROM + 9000).toISOString(),
    failedAttempts: 0,
    message: null,
    nextAttemptAt: null,
    hasGivenUp: false,
    holder: null,
    ...overrides,
  };
}
