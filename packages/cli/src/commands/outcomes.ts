import type { TaskManager } from '@dtm/core';
import { formatTime, type Io } from '../output.ts';

const LISTED = 20;

/** Who holds each busy slot right now (`worker since time`), read without taking any lock. */
export async function explainBusy(
  tm: TaskManager,
  name: string,
  outcomes: ReadonlyArray<{ slot: Date; outcome: string }>,
): Promise<Map<number, string>> {
  const holders = new Map<number, string>();
  for (const { slot } of outcomes.filter((row) => row.outcome === 'busy').slice(0, LISTED)) {
    const task = await tm.getTask(name, slot);
    if (task?.holder) {
      const since = task.holder.since ? ` since ${formatTime(task.holder.since)}` : '';
      holders.set(slot.getTime(), `${task.holder.worker ?? 'a worker'}${since}`);
    }
  }
  return holders;
}

/** Lists the slots whose outcome is not `done` (busy, unchanged, not found), at most 20 of them. */
export function printOutcomes(
  io: Io,
  outcomes: ReadonlyArray<{ slot: Date; outcome: string }>,
  done: string,
  holders: Map<number, string>,
): void {
  const notable = outcomes.filter((row) => row.outcome !== done);
  for (const row of notable.slice(0, LISTED)) {
    const holder = holders.get(row.slot.getTime());
    io.out(
      `  ${formatTime(row.slot)}  ${row.outcome.replace('_', ' ')}${holder ? ` (held by ${holder})` : ''}`,
    );
  }
  if (notable.length > LISTED) io.out(`  … and ${notable.length - LISTED} more`);
}
