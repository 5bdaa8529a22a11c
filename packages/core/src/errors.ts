/** Stable codes of every error DTM throws; callers and the API branch on these. */
export type DtmErrorCode =
  | 'BAD_INPUT'
  | 'NOT_FOUND'
  | 'DUPLICATE'
  | 'BUSY'
  | 'NOT_AVAILABLE'
  | 'LOCK_LOST'
  | 'INTERVAL_MISMATCH'
  | 'DATABASE';

/** Base class of every error DTM throws. `code` is stable; `cause` carries the underlying `pg` error. */
export class DtmError extends Error {
  readonly code: DtmErrorCode;

  constructor(code: DtmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input rejected before anything touched the database: bad name, date, interval, range or option. */
export class BadInputError extends DtmError {
  constructor(message: string) {
    super('BAD_INPUT', message);
  }
}

/** There is no such slot (or no such task name). */
export class TaskNotFoundError extends DtmError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** `createTask` on a (name, slot) that already exists. */
export class DuplicateTaskError extends DtmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DUPLICATE', message, options);
  }
}

/**
 * Another worker holds the slot right now (`FOR UPDATE NOWAIT` refused), or another process is pruning the
 * history (`pruneHistory`).
 */
export class TaskBusyError extends DtmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BUSY', message, options);
  }
}

/** The slot exists but cannot be acquired: it is finished, skipped, or waiting out its retry backoff. */
export class TaskNotAvailableError extends DtmError {
  constructor(message: string) {
    super('NOT_AVAILABLE', message);
  }
}

/** The holder's connection or transaction ended, so its lock is gone and nothing it wrote will commit. */
export class LockLostError extends DtmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LOCK_LOST', message, options);
  }
}

/** A task name already has another interval; an interval is fixed when the name's first slot is created. */
export class IntervalMismatchError extends DtmError {
  constructor(message: string) {
    super('INTERVAL_MISMATCH', message);
  }
}

/** Any other database failure, with the `pg` error as `cause`. */
export class DatabaseError extends DtmError {
  readonly sqlState: string | undefined;

  constructor(message: string, options: { cause: unknown; sqlState?: string | undefined }) {
    super('DATABASE', message, options);
    this.sqlState = options.sqlState;
  }
}

const LOCK_NOT_AVAILABLE = '55P03';
const UNIQUE_VIOLATION = '23505';

/**
 * The SQLSTATE of an error that the server sent; undefined for anything else, such as a Node socket error
 * (`ECONNREFUSED`, `EPIPE`) that also has a `code`. Recognised by shape (a server error has a `severity`), not
 * by class, so that errors from a user's own copy of `pg` are read the same way.
 */
export function sqlStateOf(error: unknown): string | undefined {
  if (
    typeof error === 'object' &&
    error !== null &&
    'severity' in error &&
    'code' in error &&
    typeof error.code === 'string'
  ) {
    return error.code;
  }
  return undefined;
}

/** Translates a `pg` error into a DTM error; the one place where SQLSTATEs are read. */
export function translatePgError(error: unknown, context: string): DtmError {
  if (error instanceof DtmError) return error;
  const sqlState = sqlStateOf(error);
  if (sqlState === LOCK_NOT_AVAILABLE)
    return new TaskBusyError(`${context}: another worker holds it`, { cause: error });
  if (sqlState === UNIQUE_VIOLATION)
    return new DuplicateTaskError(`${context}: it already exists`, { cause: error });
  const reason = error instanceof Error ? error.message : String(error);
  return new DatabaseError(`${context}: ${reason}`, { cause: error, sqlState });
}
