import type { Task } from '@dtm/core';
import { type Color, formatTime, paint, truncate } from './output.ts';

/** What a cell shows; the same codes as the API's grid (see docs/http-api.md). */
export type CellState = 'COMPLETE' | 'ACQUIRED' | 'AVAILABLE' | 'FAILING' | 'SKIP' | 'MISSING' | 'FUTURE';

/** A cell holding several slots shows the worst of them, in this order. */
export const WORST_FIRST: readonly CellState[] = [
  'FAILING',
  'MISSING',
  'AVAILABLE',
  'ACQUIRED',
  'SKIP',
  'COMPLETE',
  'FUTURE',
];

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
};

/** One task name over a window: its cells, counts, gaps, failures and holders. */
export interface NameStatus {
  name: string;
  interval: string;
  intervalMs: number;
  /** After this many failed or abandoned attempts a slot is given up on until re-queued; null: never. */
  maxAttempts: number | null;
  /** First slot shown (the window's start, or the name's first slot if later). */
  from: Date;
  /** End of the window (exclusive). */
  to: Date;
  slots: number;
  slotsPerCell: number;
  cells: CellState[];
  counts: Record<CellState, number>;
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

/** The state a slot shows: its live state, FAILING for an AVAILABLE slot that failed, MISSING for a gap. */
export function slotState(task: Task | undefined, slot: Date, now: Date): CellState {
  if (!task) return slot > now ? 'FUTURE' : 'MISSING';
  if (task.state === 'AVAILABLE' && task.failedAttempts > 0) return 'FAILING';
  return task.state;
}

/**
 * Lays a name's slots in [from, to) out as at most `maxCells` cells. Slots before the name's first slot
 * are not shown: they predate the name, so they are not gaps.
 */
export function summarizeName(input: {
  name: string;
  interval: string;
  intervalMs: number;
  maxAttempts?: number | null;
  originMs: number;
  firstSlot: Date | null;
  from: Date;
  to: Date;
  now: Date;
  tasks: readonly Task[];
  maxCells: number;
}): NameStatus {
  const { intervalMs, originMs } = input;
  const alignedFrom = originMs + Math.ceil((input.from.getTime() - originMs) / intervalMs) * intervalMs;
  const start = input.firstSlot ? Math.max(alignedFrom, input.firstSlot.getTime()) : input.to.getTime();
  const count = Math.max(0, Math.ceil((input.to.getTime() - start) / intervalMs));
  const bySlot = new Map(input.tasks.map((task) => [task.slot.getTime(), task]));
  const counts = Object.fromEntries(WORST_FIRST.map((state) => [state, 0])) as Record<CellState, number>;
  const states: CellState[] = [];
  const gaps: NameStatus['gaps'] = [];
  const failures: NameStatus['failures'] = [];
  const running: NameStatus['running'] = [];
  for (let i = 0; i < count; i += 1) {
    const slot = new Date(start + i * intervalMs);
    const task = bySlot.get(slot.getTime());
    const state = slotState(task, slot, input.now);
    states.push(state);
    counts[state] += 1;
    if (state === 'MISSING') {
      const last = gaps.at(-1);
      if (last && last.to.getTime() === slot.getTime()) {
        last.to = new Date(slot.getTime() + intervalMs);
        last.count += 1;
      } else {
        gaps.push({ from: slot, to: new Date(slot.getTime() + intervalMs), count: 1 });
      }
    }
    if (task && state === 'FAILING') {
      failures.push({
        slot,
        failedAttempts: task.failedAttempts,
        message: task.message,
        hasGivenUp: task.hasGivenUp,
        nextAttemptAt: task.nextAttemptAt,
      });
    }
    if (task?.holder) running.push({ slot, worker: task.holder.worker, since: task.holder.since });
  }
  const slotsPerCell = Math.max(1, Math.ceil(count / Math.max(1, input.maxCells)));
  const cells: CellState[] = [];
  for (let i = 0; i < count; i += slotsPerCell) cells.push(worstOf(states.slice(i, i + slotsPerCell)));
  return {
    name: input.name,
    interval: input.interval,
    intervalMs,
    maxAttempts: input.maxAttempts ?? null,
    from: new Date(start),
    to: input.to,
    slots: count,
    slotsPerCell,
    cells,
    counts,
    gaps,
    failures,
    running,
  };
}

function worstOf(states: readonly CellState[]): CellState {
  for (const state of WORST_FIRST) if (states.includes(state)) return state;
  return 'FUTURE';
}

/** The legend line: each cell character and what it means. */
export function renderLegend(isColor: boolean): string {
  return DISPLAY_ORDER.map(
    (state) => `${paint(LOOK[state].char, LOOK[state].color, isColor)} ${LOOK[state].label}`,
  ).join('  ');
}

const LISTED = 5;

/** The text block of one name: header, the cell line, counts, then gaps, failures and holders. */
export function renderName(status: NameStatus, isColor: boolean): string[] {
  const lines: string[] = [];
  const per = status.slotsPerCell === 1 ? '1 slot per cell' : `${status.slotsPerCell} slots per cell`;
  lines.push(
    `${paint(status.name, 'bold', isColor)}  every ${status.interval}${status.maxAttempts === null ? '' : `, gives up after ${status.maxAttempts} attempts`}  ${formatTime(status.from)} .. ${formatTime(status.to)}  ${status.slots} slot${status.slots === 1 ? '' : 's'}, ${per}`,
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
    lines.push(`  gaps: ${listed.join(', ')}${more}`);
  }
  for (const failure of status.failures.slice(0, LISTED)) {
    const attempts = failure.failedAttempts === 1 ? '1 attempt' : `${failure.failedAttempts} attempts`;
    lines.push(
      `  ${paint(failure.hasGivenUp ? 'gave up' : 'failing', 'red', isColor)} ${formatTime(failure.slot)}  ${attempts}  ${truncate(failure.message ?? '', 100)}`,
    );
  }
  if (status.failures.length > LISTED) lines.push(`  … and ${status.failures.length - LISTED} more failing`);
  for (const held of status.running.slice(0, LISTED)) {
    const since = held.since ? ` since ${formatTime(held.since)}` : '';
    lines.push(
      `  ${paint('running', 'cyan', isColor)} ${formatTime(held.slot)}  held by ${held.worker ?? '?'}${since}`,
    );
  }
  if (status.running.length > LISTED) lines.push(`  … and ${status.running.length - LISTED} more running`);
  return lines;
}
