export { AcquiredTask, type HandleOutcome, type RetryPolicy } from './acquired-task.ts';
export { Backoff, type BackoffOptions } from './backoff.ts';
export type { ConnectionLossOptions } from './connection.ts';
export type { RecountingOptions } from './counts.ts';
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
  attemptsText,
  type Cadence,
  CELL_STATE_CODES,
  CELL_STATES_DISPLAY_ORDER,
  CELL_STATES_WORST_FIRST,
  type CellState,
  checkTaskName,
  fixedCadence,
  formatInterval,
  type Interval,
  isFailing,
  parseInterval,
  slotsIn,
  TASK_STATES,
  type TaskState,
  taskNameProblem,
  worstState,
} from './model.ts';
export type { Grid, GridCell, GridRequest, GridRow, HeldSlot, NameSummary } from './reads.ts';
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
export { alignToInterval } from './time.ts';
export type { HistoryEntry, Holder, Task } from './types.ts';
export { Worker, type WorkerEvents, type WorkerLogger, type WorkerOptions } from './worker.ts';
