import {
  attemptsText,
  CELL_STATES_WORST_FIRST,
  type CellState,
  type GridRow,
  type HeldSlot,
  type Task,
} from '@dtm/core';
import { type Color, formatTime, paint, truncate } from './output.ts';

/** The order of the legend and the counts: the usual life of a slot, then what needs attention. */
const DISPLAY_ORDER: readonly CellState[] = [
  'COMPLETE',
  'ACQUIRED',
  'AVAILABLE',
  'FAILING',
  'SKIP',
  'MISSING',
];

const LOOK: Record<CellState, { char: string; color: Color; label: string }> = {
  COMPLETE: { char: '#', color: 'green', label: 'complete' },
  ACQUIRED: { char: '>', color: 'cyan', label: 'running' },
  AVAILABLE: { char: '.', color: 'blue', label: 'pending' },
  FAILING: { char: '!', color: 'red', label: 'failing' },
  SKIP: { char: '-', color: 'gray', label: 'skipped' },
  MISSING: { char: '?', color: 'yellow', label: 'missing' },
  FUTURE: { char: ' ', color: 'dim', label: 'future' },
  BEFORE_FIRST: { char: ' ', color: 'dim', label: 'before the first slot' },
};

/** One task name over a window: its cells, counts, gaps, failures and holders. */
export interface NameStatus {
  name: string;
  interval: string;
  intervalMs: number;
  /** After this many failed or abandoned attempts a slot is given up on until re-queued; null: never. */
  maxAttempts: number | null;
  /** The window's first slot. */
  from: Date;
  /** End of the window (exclusive). */
  to: Date;
  slots: number;
  slotsPerCell: number;
  cells: CellState[];
  /** Slots per cell state; BEFORE_FIRST: slots before the name's first slot (not expected, not gaps). */
  counts: Record<CellState, number>;
  /** Runs of cells with gaps: each slot of a gap when a cell is one slot, else the cells that hold gaps. */
  gaps: Array<{ from: Date; to: Date; count: number }>;
  failures: Array<{
    slot: Date;
    failedAttempts: number;
    message: string | null;
    nextAttemptAt: Date | null;
    hasGivenUp: boolean;
  }>;
  running: Array<{ slot: Date; worker: string | null; since: Date | null }>;
}

/**
 * A name's status from its row of the core's grid (the same cells and counts as the API's grid and
 * `dtm_missing_slots`), its first failing slots and its holders.
 */
export function summarizeName(
  row: GridRow,
  window: { to: Date },
  failing: readonly Task[],
  held: readonly HeldSlot[],
): NameStatus {
  const counts = Object.fromEntries(CELL_STATES_WORST_FIRST.map((state) => [state, 0])) as Record<
    CellState,
    number
  >;
  const gaps: NameStatus['gaps'] = [];
  for (const cell of row.cells) {
    for (const state of CELL_STATES_WORST_FIRST) counts[state] += cell.counts[state] ?? 0;
    const missing = cell.counts.MISSING ?? 0;
    if (missing === 0) continue;
    const last = gaps.at(-1);
    if (last && last.to.getTime() === cell.start.getTime()) {
      last.to = cell.end;
      last.count += missing;
    } else gaps.push({ from: cell.start, to: cell.end, count: missing });
  }
  return {
    name: row.name,
    interval: row.interval,
    intervalMs: row.intervalMs,
    maxAttempts: row.maxAttempts,
    from: row.start,
    to: window.to,
    slots: row.slotCount,
    slotsPerCell: row.slotsPerCell,
    cells: row.cells.map((cell) => cell.state),
    counts,
    gaps,
    failures: failing.map((task) => ({
      slot: task.slot,
      failedAttempts: task.failedAttempts,
      message: task.message,
      nextAttemptAt: task.nextAttemptAt,
      hasGivenUp: task.hasGivenUp,
    })),
    running: held.map((slot) => ({ slot: slot.slot, worker: slot.worker, since: slot.since })),
  };
}

/** The legend line: each cell character and what it means. */
export function renderLegend(isColor: boolean): string {
  return DISPLAY_ORDER.map(
    (state) => `${paint(LOOK[state].char, LOOK[state].color, isColor)} ${LOOK[state].label}`,
  ).join('  ');
}

/** How many failing slots and holders a name lists. */
export const LISTED = 5;

/** The text block of one name: header, the cell line, counts, then gaps, failures and holders. */
export function renderName(status: NameStatus, isColor: boolean): string[] {
  const lines: string[] = [];
  const per = status.slotsPerCell === 1 ? '1 slot per cell' : `${status.slotsPerCell} slots per cell`;
  const listedGaps = status.slotsPerCell === 1 ? 'gaps' : 'cells with gaps';
  lines.push(
    `${paint(status.name, 'bold', isColor)}  every ${status.interval}${status.maxAttempts === null ? '' : `, gives up after ${attemptsText(status.maxAttempts)}`}  ${formatTime(status.from)} .. ${formatTime(status.to)}  ${status.slots} slot${status.slots === 1 ? '' : 's'}, ${per}`,
  );
  if (status.slots === 0) {
    lines.push('  (no slots in this window)');
    return lines;
  }
  const cells = status.cells.map((state) => paint(LOOK[state].char, LOOK[state].color, isColor)).join('');
  lines.push(`  |${cells}|`);
  lines.push(
    `  ${DISPLAY_ORDER.map((state) => {
      const text = `${LOOK[state].label} ${status.counts[state]}`;
      return status.counts[state] > 0 && (state === 'FAILING' || state === 'MISSING')
        ? paint(text, LOOK[state].color, isColor)
        : text;
    }).join(', ')}`,
  );
  if (status.gaps.length > 0) {
    const listed = status.gaps
      .slice(0, LISTED)
      .map((gap) =>
        gap.count === 1
          ? formatTime(gap.from)
          : `${formatTime(gap.from)} .. ${formatTime(gap.to)} (${gap.count})`,
      );
    const more = status.gaps.length > LISTED ? ` and ${status.gaps.length - LISTED} more` : '';
    lines.push(`  ${listedGaps}: ${listed.join(', ')}${more}`);
  }
  for (const failure of status.failures) {
    lines.push(
      `  ${paint(failure.hasGivenUp ? 'gave up' : 'failing', 'red', isColor)} ${formatTime(failure.slot)}  ${attemptsText(failure.failedAttempts)}  ${truncate(failure.message ?? '', 100)}`,
    );
  }
  const moreFailing = status.counts.FAILING - status.failures.length;
  if (moreFailing > 0) lines.push(`  … and ${moreFailing} more failing`);
  for (const held of status.running.slice(0, LISTED)) {
    const since = held.since ? ` since ${formatTime(held.since)}` : '';
    lines.push(
      `  ${paint('running', 'cyan', isColor)} ${formatTime(held.slot)}  held by ${held.worker ?? '?'}${since}`,
    );
  }
  if (status.running.length > LISTED) lines.push(`  … and ${status.running.length - LISTED} more running`);
  return lines;
}
