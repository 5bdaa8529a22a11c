import type { Task } from './types.ts';
import type { Worker } from './worker.ts';

/**
 * How an attempt ended: the slot was `completed` or `skipped`; the attempt `failed` (the slot retried after
 * its backoff, or given up); the lock was lost while the work ran (`abandoned`, counted as a failed
 * attempt); or the slot was given back unchanged, not counted (`released`: `task.release()`, or `stop()`).
 */
export type AttemptOutcome = 'completed' | 'skipped' | 'failed' | 'abandoned' | 'released';

/** One ended attempt, as metrics and traces record it. */
export interface EndedAttempt {
  task: Task;
  /** The slot's attempt number: 1 for its first. */
  attempt: number;
  outcome: AttemptOutcome;
  durationMs: number;
  /** Why it failed or was abandoned. */
  error?: unknown;
}

/**
 * Calls `listener` at the end of each of the worker's attempts, from its events; returns what removes it.
 * (`failed` reports the slot as recorded, its failed attempts including this one; the other events report
 * it as it was taken.)
 */
export function onAttemptEnd(worker: Worker, listener: (attempt: EndedAttempt) => void): () => void {
  const completed = ({ task, durationMs }: { task: Task; durationMs: number }) =>
    listener({ task, attempt: task.failedAttempts + 1, outcome: 'completed', durationMs });
  const skipped = ({ task, durationMs }: { task: Task; durationMs: number }) =>
    listener({ task, attempt: task.failedAttempts + 1, outcome: 'skipped', durationMs });
  const failed = ({ task, durationMs, error }: { task: Task; durationMs: number; error: unknown }) =>
    listener({ task, attempt: task.failedAttempts, outcome: 'failed', durationMs, error });
  const lockLost = (event: { task: Task; durationMs: number; error: Error; isShutdown: boolean }) =>
    listener({
      task: event.task,
      attempt: event.task.failedAttempts + 1,
      outcome: event.isShutdown ? 'released' : 'abandoned',
      durationMs: event.durationMs,
      ...(event.isShutdown ? {} : { error: event.error }),
    });
  const released = ({ task, durationMs }: { task: Task; durationMs: number }) =>
    listener({ task, attempt: task.failedAttempts + 1, outcome: 'released', durationMs });
  worker
    .on('completed', completed)
    .on('skipped', skipped)
    .on('failed', failed)
    .on('lockLost', lockLost)
    .on('released', released);
  return () => {
    worker
      .off('completed', completed)
      .off('skipped', skipped)
      .off('failed', failed)
      .off('lockLost', lockLost)
      .off('released', released);
  };
}
