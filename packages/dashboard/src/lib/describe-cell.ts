import type { GridCell, GridRow } from '../api/grid.ts';
import { CELL_STATES_WORST_FIRST, type CellState } from '../api/types.ts';
import { cellStyle } from './cell-style.ts';
import { cellCounts } from './grid-layout.ts';
import { formatDuration, formatInstant, formatRange, type TimeZoneChoice } from './time.ts';

/** `3 complete, 1 failing` for a bucket, worst first. */
export function describeCounts(counts: Partial<Record<CellState, number>>): string {
  return CELL_STATES_WORST_FIRST.filter((state) => (counts[state] ?? 0) > 0)
    .map((state) => `${counts[state]} ${cellStyle(state).label.toLowerCase()}`)
    .join(', ');
}

/** The cell in one sentence, for screen readers (the aria-live description of the focused cell). */
export function describeCell(row: GridRow, cell: GridCell, zone: TimeZoneChoice): string {
  const parts = [row.name, formatRange(cell.start, cell.end, zone)];
  const slots = Object.values(cellCounts(cell)).reduce((sum, n) => sum + (n ?? 0), 0);
  if (slots > 1)
    parts.push(`${slots} slots, worst ${cellStyle(cell.state).label}: ${describeCounts(cell.counts)}`);
  else parts.push(cellStyle(cell.state).label);
  if (cell.failedAttempts > 0) parts.push(`${cell.failedAttempts} failed attempts`);
  if (cell.holder) {
    const since = cell.holder.since ? ` since ${formatInstant(cell.holder.since, zone)}` : '';
    parts.push(`held by ${cell.holder.worker ?? 'a worker'}${since}`);
  }
  if (cell.message) parts.push(`${cell.state === 'SKIP' ? 'reason' : 'message'}: ${cell.message}`);
  return `${parts.join(', ')}. Enter opens details.`;
}

/** How long ago, in words (`5 min ago`, `in 3 h`). */
export function formatAgo(date: Date, now: Date): string {
  const diff = now.getTime() - date.getTime();
  return diff >= 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}
