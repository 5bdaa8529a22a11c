import type { SlotSelection } from '@dtm/core';
import { parseRange, parseTime, UsageError } from './args.ts';

/** `<name> <slot>…` or `<name> --from <time> --to <time>`, checked before anything connects. */
export function parseSelection(
  command: string,
  positionals: string[],
  values: { from?: string | undefined; to?: string | undefined },
  now: Date,
): SlotSelection {
  const [name, ...slots] = positionals;
  if (name === undefined || name === '') throw new UsageError(`${command} needs a task name`);
  const range = parseRange(values, now);
  if (range && slots.length > 0) throw new UsageError(`give slots or --from/--to, not both`);
  if (range) return { name, from: range.from, to: range.to };
  if (slots.length === 0) throw new UsageError(`${command} needs a slot, or --from and --to`);
  return { name, slots: slots.map((slot, i) => parseTime(slot, `slot ${i + 1}`, now)) };
}
