import { BadInputError } from './errors.ts';
import { fixedCadence, formatInterval, type Interval, isSlotStart, parseInterval } from './model.ts';

export { formatInterval, type Interval, parseInterval } from './model.ts';

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
  const cadence = fixedCadence(parseInterval(interval), toDate(origin, 'origin').getTime());
  return new Date(cadence.slotStart(cadence.slotNumber(toDate(date, 'date').getTime())));
}

/** Throws unless `slot` is a slot start for this interval and origin. */
export function assertAligned(slot: Date, intervalMs: number, originMs: number, name: string): void {
  const cadence = fixedCadence(intervalMs, originMs);
  if (!isSlotStart(cadence, slot.getTime())) {
    const aligned = new Date(cadence.slotStart(cadence.slotNumber(slot.getTime())));
    throw new BadInputError(
      `slot ${slot.toISOString()} of ${JSON.stringify(name)} is not aligned to its interval ${formatInterval(intervalMs)}; the slot containing it starts at ${aligned.toISOString()}`,
    );
  }
}
