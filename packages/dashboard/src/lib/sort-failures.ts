import type { Task } from '../api/tasks.ts';

/** Columns the Failures view sorts by. */
export type FailureSort = 'attempts' | 'age' | 'name';

/** Sorts failing slots: most attempts first, oldest first, or by name then slot. */
export function sortFailures(tasks: readonly Task[], sort: FailureSort): Task[] {
  const bySlot = (a: Task, b: Task) => a.slot.getTime() - b.slot.getTime();
  return [...tasks].sort((a, b) => {
    if (sort === 'attempts') return b.failedAttempts - a.failedAttempts || bySlot(a, b);
    if (sort === 'age') return bySlot(a, b) || a.name.localeCompare(b.name);
    return a.name.localeCompare(b.name) || bySlot(a, b);
  });
}
