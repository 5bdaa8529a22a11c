import { BadInputError } from './errors.ts';

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
    const match = ISO_DURATION.exec(value.trim().toUpperCase());
    if (!match || value.trim().toUpperCase().endsWith('T') || value.trim().length <= 1) {
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

/** A Date from a Date or an ISO-8601 string; anything else, or an invalid date, is a `BadInputError`. */
export function toDate(value: Date | string, what: string): Date {
  const date =
    value instanceof Date ? new Date(value.getTime()) : typeof value === 'string' ? new Date(value) : null;
  if (date === null || Number.isNaN(date.getTime())) {
    throw new BadInputError(`${what} must be a valid date or ISO-8601 string, got ${JSON.stringify(value)}`);
  }
  return date;
}

/**
 * The start of the slot containing `date`: slots are `interval` long and aligned to `origin`
 * (default: the Unix epoch).
 */
export function alignToInterval(
  date: Date | string,
  interval: Interval,
  origin: Date | string = new Date(0),
): Date {
  const ms = parseInterval(interval);
  const t = toDate(date, 'date').getTime();
  const o = toDate(origin, 'origin').getTime();
  return new Date(o + Math.floor((t - o) / ms) * ms);
}

/** Throws unless `slot` is a slot start for this interval and origin. */
export function assertAligned(slot: Date, intervalMs: number, originMs: number, name: string): void {
  if ((slot.getTime() - originMs) % intervalMs !== 0) {
    const aligned = new Date(originMs + Math.floor((slot.getTime() - originMs) / intervalMs) * intervalMs);
    throw new BadInputError(
      `slot ${slot.toISOString()} of ${JSON.stringify(name)} is not aligned to its interval ${formatInterval(intervalMs)}; the slot containing it starts at ${aligned.toISOString()}`,
    );
  }
}

/** The slot starts in [from, to), in order. `from` must be aligned; the caller has bounded the count. */
export function slotsBetween(from: Date, to: Date, intervalMs: number): Date[] {
  const slots: Date[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += intervalMs) slots.push(new Date(t));
  return slots;
}
