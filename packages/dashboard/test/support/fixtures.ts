/** Wire-format builders (what the API sends), for tests. */
import type { WireGrid, WireGridCell, WireGridRow } from '../../src/api/grid.ts';
import type { CellState } from '../../src/api/types.ts';

export const FROM = Date.parse('2026-11-28T00:00:00.000Z');
export const STEP = 5 * 60_000;

/** A wire row of single-slot cells from {@link FROM}, one per state given. */
export function wireRow(
  name: string,
  states: CellState[],
  extra: Partial<Record<number, Partial<WireGridCell>>> = {},
  summary = { missing: 0, failing: 0, running: 0 },
): WireGridRow {
  return {
    name,
    interval: 'PT5M',
    intervalMs: STEP,
    slotsPerCell: 1,
    summary,
    cells: states.map((state, i) => ({
      start: new Date(FROM + i * STEP).toISOString(),
      end: new Date(FROM + (i + 1) * STEP).toISOString(),
      state,
      counts: { [state]: 1 },
      failedAttempts: state === 'FAILING' ? 2 : 0,
      message: null,
      holder: null,
      ...extra[i],
    })),
  };
}

/** A wire grid over {@link FROM} + `slots` × 5 min. */
export function wireGrid(rows: WireGridRow[], slots = 12): WireGrid {
  return {
    from: new Date(FROM).toISOString(),
    to: new Date(FROM + slots * STEP).toISOString(),
    now: new Date(FROM + slots * STEP).toISOString(),
    rows,
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
    holder: null,
    ...overrides,
  };
}
