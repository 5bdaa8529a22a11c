import { formatInterval, type TaskState } from './model.ts';

export { TASK_STATES, type TaskState } from './model.ts';

/** A worker holding a slot right now, as other sessions see it. */
export interface Holder {
  /** The holder's worker name (its session's `application_name`; at most 63 bytes). */
  worker: string | null;
  /** When the holder's transaction started. */
  since: Date | null;
}

/** One slot of a task name, as committed, with the live ACQUIRED overlay. */
export interface Task {
  name: string;
  slot: Date;
  interval: string;
  intervalMs: number;
  state: TaskState;
  createdBy: string | null;
  createdAt: Date;
  acquiredBy: string | null;
  acquiredAt: Date | null;
  completedAt: Date | null;
  failedAttempts: number;
  /** Last failure reason, completion or skip note, or re-queue reason. */
  message: string | null;
  /** When a failed slot may be retried; null means due now, unless `hasGivenUp`. */
  nextAttemptAt: Date | null;
  /**
   * The slot reached its name's `maxAttempts`: it is not retried automatically (its message says "gave up
   * after N attempts") until it is re-queued.
   */
  hasGivenUp: boolean;
  /** Set exactly when `state` is ACQUIRED. */
  holder: Holder | null;
}

/** One committed transition of a slot. `fromState` is null when the slot was created. */
export interface HistoryEntry {
  /** The history row that recorded it: an attempt's start (→ ACQUIRED) and its end share their row. */
  id: number;
  name: string;
  slot: Date;
  fromState: TaskState | null;
  toState: TaskState;
  actor: string | null;
  message: string | null;
  at: Date;
}

/** The row shape that every task-reading query returns. */
export interface TaskRow {
  name: string;
  slot: Date;
  interval_ms: string;
  state: TaskState;
  created_by: string | null;
  created_at: Date;
  acquired_by: string | null;
  acquired_at: Date | null;
  completed_at: Date | null;
  failed_attempts: number;
  message: string | null;
  /** `Infinity` (as pg parses 'infinity') when the slot gave up. */
  next_attempt_at: Date | number | null;
  holder_worker: string | null;
  holder_since: Date | null;
  is_held: boolean;
}

export function toTask(row: TaskRow): Task {
  const intervalMs = Number(row.interval_ms);
  return {
    name: row.name,
    slot: row.slot,
    interval: formatInterval(intervalMs),
    intervalMs,
    state: row.is_held ? 'ACQUIRED' : row.state,
    createdBy: row.created_by,
    createdAt: row.created_at,
    acquiredBy: row.acquired_by,
    acquiredAt: row.acquired_at,
    completedAt: row.completed_at,
    failedAttempts: row.failed_attempts,
    message: row.message,
    nextAttemptAt: row.next_attempt_at instanceof Date ? row.next_attempt_at : null,
    hasGivenUp: row.next_attempt_at === Number.POSITIVE_INFINITY,
    holder: row.is_held ? { worker: row.holder_worker, since: row.holder_since } : null,
  };
}
