export { AcquiredTask, type HandleOutcome, type RetryPolicy } from './acquired-task.ts';
export type { ConnectionLossOptions } from './connection.ts';
export {
  BadInputError,
  DatabaseError,
  DtmError,
  type DtmErrorCode,
  DuplicateTaskError,
  IntervalMismatchError,
  LockLostError,
  sqlStateOf,
  TaskBusyError,
  TaskNotAvailableError,
  TaskNotFoundError,
} from './errors.ts';
export type { BulkEvent, SubscribeOptions, Subscription, TaskEvent, TransitionEvent } from './events.ts';
export {
  HistoryPruning,
  type HistoryPruningOptions,
  type PruneHistoryOptions,
  type PruneResult,
  parseRetention,
} from './retention.ts';
export {
  type ActorOptions,
  type ListTasksOptions,
  MAX_SLOTS_PER_CALL,
  type OperationResult,
  type RequeueOutcome,
  type SkipOutcome,
  type SlotSelection,
  TaskManager,
  type TaskManagerOptions,
} from './task-manager.ts';
export { alignToInterval, formatInterval, type Interval, parseInterval } from './time.ts';
export { type HistoryEntry, type Holder, TASK_STATES, type Task, type TaskState } from './types.ts';
export { Worker, type WorkerEvents, type WorkerLogger, type WorkerOptions } from './worker.ts';
