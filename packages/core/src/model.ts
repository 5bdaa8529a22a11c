// DTM's shared model, written once: slot arithmetic, the state vocabulary and its display order, the name rule
// and the FAILING rule. Browser-safe (no Node.js or pg import): the core, the API, the CLI and the dashboard
// all import it, as `@dtm/core/model`.
import { BadInputError } from './errors.ts';

// ---------- intervals ----------

/** An interval: an ISO-8601 duration of fixed length (`PT5M`, `PT1H`, `P1D`, `P1W`) or milliseconds. */
export type Interval = string | number;

/** Shortest interval DTM accepts: one second. */
export const MIN_INTERVAL_MS = 1_000;
/** Longest interval DTM accepts: 366 days. */
export const MAX_INTERVAL_MS = 366 * 86_400_000;

const ISO_DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,3})?)S)?)?$/;

/**
 * Milliseconds of an interval. Months and years are refused: their length varies, so slots would not be
 * fixed ranges.
 */
export function parseInterval(interval: Interval): number {
  return parseDuration(interval, 'interval', MIN_INTERVAL_MS, MAX_INTERVAL_MS);
}

/**
 * Milliseconds of a duration of fixed length (an ISO-8601 duration such as `PT5M`, `P30D`, or milliseconds)
 * from `minMs` to `maxMs`; `what` names it in the `BadInputError`. Months and years are refused: their length
 * varies.
 */
export function parseDuration(value: Interval, what: string, minMs: number, maxMs: number): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const text = value.trim().toUpperCase();
    const match = ISO_DURATION.exec(text);
    if (!match || text.endsWith('T') || text.length <= 1) {
      throw new BadInputError(
        `invalid ${what} ${JSON.stringify(value)}: use an ISO-8601 duration of fixed length such as PT5M, PT1H or P1D (months and years vary in length), or milliseconds`,
      );
    }
    const [, weeks, days, hours, minutes, seconds] = match;
    ms =
      Number(weeks ?? 0) * 604_800_000 +
      Number(days ?? 0) * 86_400_000 +
      Number(hours ?? 0) * 3_600_000 +
      Number(minutes ?? 0) * 60_000 +
      Math.round(Number(seconds ?? 0) * 1000);
  } else {
    throw new BadInputError(`${what} must be an ISO-8601 duration string or a number of milliseconds`);
  }
  if (!Number.isSafeInteger(ms) || ms < minMs || ms > maxMs) {
    throw new BadInputError(
      `invalid ${what} ${JSON.stringify(value)}: it must be a whole number of milliseconds from ${minMs} (${formatInterval(minMs)}) to ${maxMs} (${formatInterval(maxMs)})`,
    );
  }
  return ms;
}

/** The ISO-8601 form of an interval in milliseconds: `PT5M`, `PT1H`, `P1D`, `P1DT12H`. */
export function formatInterval(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = rest / 1000;
  const time = `${hours ? `${hours}H` : ''}${minutes ? `${minutes}M` : ''}${seconds ? `${seconds}S` : ''}`;
  return `P${days ? `${days}D` : ''}${time ? `T${time}` : ''}`;
}

// ---------- slots ----------

/**
 * How a task name's time is cut into slots. Slots are numbered: slot `n` starts at `slotStart(n)`, and every
 * instant lies in exactly one slot, `slotNumber(ms)`. Everything else (alignment, the slots of a window,
 * bucket bounds) is derived from these two, so that a calendar cadence (months, local days across DST) can be
 * added as another implementation without touching its callers.
 */
export interface Cadence {
  /** The interval as written (`PT5M`). */
  readonly interval: string;
  /** The fixed length of every slot, in ms. */
  readonly intervalMs: number;
  /** The start of slot 0, epoch ms. */
  readonly originMs: number;
  /** The number of the slot containing `ms` (epoch ms). */
  slotNumber(ms: number): number;
  /** The start of slot `n`, epoch ms. */
  slotStart(n: number): number;
}

/** Slots of `intervalMs`, aligned to `originMs` (default: the Unix epoch). */
export function fixedCadence(intervalMs: number, originMs = 0): Cadence {
  return {
    interval: formatInterval(intervalMs),
    intervalMs,
    originMs,
    slotNumber: (ms) => Math.floor((ms - originMs) / intervalMs),
    slotStart: (n) => originMs + n * intervalMs,
  };
}

/** The number of the first slot that starts at or after `ms`. */
export function firstSlotFrom(cadence: Cadence, ms: number): number {
  const n = cadence.slotNumber(ms);
  return cadence.slotStart(n) < ms ? n + 1 : n;
}

/**
 * The slots that start in [fromMs, toMs), as slot numbers [first, end): `end - first` of them (0 for an
 * empty or inverted window).
 */
export function slotsIn(cadence: Cadence, fromMs: number, toMs: number): { first: number; end: number } {
  const first = firstSlotFrom(cadence, fromMs);
  return { first, end: Math.max(first, firstSlotFrom(cadence, toMs)) };
}

/** Whether `ms` is the start of a slot. */
export function isSlotStart(cadence: Cadence, ms: number): boolean {
  return cadence.slotStart(cadence.slotNumber(ms)) === ms;
}

// ---------- states ----------

/** The states of a slot. ACQUIRED is live: a worker holds the slot right now; it is never stored. */
export type TaskState = 'AVAILABLE' | 'ACQUIRED' | 'COMPLETE' | 'SKIP';

/** The four states, in their usual order. */
export const TASK_STATES: readonly TaskState[] = ['AVAILABLE', 'ACQUIRED', 'COMPLETE', 'SKIP'];

/** FAILING: AVAILABLE with one or more failed attempts (waiting to be retried, or due again). */
export function isFailing(state: TaskState, failedAttempts: number): boolean {
  return state === 'AVAILABLE' && failedAttempts > 0;
}

/**
 * What a slot (or a cell of several slots) of the grid shows, worst first: a cell is drawn by its worst
 * slot. MISSING (a gap) is a slot that has started, has no row, and is at or after the name's first slot;
 * a slot before that is BEFORE_FIRST: not expected, since the name did not exist yet. FUTURE is a slot from
 * the first one on that has not started and has no row.
 */
export const CELL_STATES_WORST_FIRST = [
  'FAILING',
  'MISSING',
  'AVAILABLE',
  'ACQUIRED',
  'SKIP',
  'COMPLETE',
  'FUTURE',
  'BEFORE_FIRST',
] as const;
export type CellState = (typeof CELL_STATES_WORST_FIRST)[number];

/** One letter per cell state, in the order of `CELL_STATES_WORST_FIRST` (the grid's compact wire form). */
export const CELL_STATE_CODES = 'FMARSCUB';

/** The order in which legends and counts list the cell states: the life of a slot, then what needs care. */
export const CELL_STATES_DISPLAY_ORDER: readonly CellState[] = [
  'COMPLETE',
  'ACQUIRED',
  'AVAILABLE',
  'FAILING',
  'SKIP',
  'MISSING',
  'FUTURE',
  'BEFORE_FIRST',
];

/** The worst of the states that have a count above zero; null when none has. */
export function worstState(counts: Partial<Record<CellState, number>>): CellState | null {
  for (const state of CELL_STATES_WORST_FIRST) if ((counts[state] ?? 0) > 0) return state;
  return null;
}

/** "1 attempt", "3 attempts": how a count of attempts reads, in messages and on screens. */
export function attemptsText(count: number): string {
  return count === 1 ? '1 attempt' : `${count} attempts`;
}

// ---------- names ----------

/** Longest task name, in characters. */
export const MAX_NAME_LENGTH = 200;

/** Why `name` is not a valid task name (1–200 characters of any Unicode, no NUL); null when it is. */
export function taskNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'task name must be a string';
  const length = [...name].length;
  if (length < 1 || length > MAX_NAME_LENGTH)
    return `task name must be 1–${MAX_NAME_LENGTH} characters, got ${length}`;
  if (name.includes('\u0000')) return 'task name must not contain the NUL character';
  return null;
}

/** `name` if it is a valid task name (see `taskNameProblem`), stored verbatim; else `BadInputError`. */
export function checkTaskName(name: unknown): string {
  const problem = taskNameProblem(name);
  if (problem !== null) throw new BadInputError(problem);
  return name as string;
}
