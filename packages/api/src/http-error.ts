import { DatabaseError, DtmError } from '@dtm/core';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ZodError } from 'zod';
import type { Logger } from './deps.ts';

/** The stable error codes of the wire format (docs/http-api.md). */
export type ApiErrorCode =
  | 'BAD_INPUT'
  | 'UNAUTHORIZED'
  | 'READ_ONLY'
  | 'NOT_FOUND'
  | 'BUSY'
  | 'NOT_AVAILABLE'
  | 'DUPLICATE'
  | 'CONFLICT'
  | 'TOO_LARGE'
  | 'INTERNAL'
  | 'UNAVAILABLE';

/** An error the API answers as `{ error: { code, message }, ...extra }` with `status`. */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: ApiErrorCode;
  /** Extra top-level fields of the body (e.g. the outcomes of a re-queue that found every slot busy). */
  readonly extra: Record<string, unknown>;

  constructor(
    status: ContentfulStatusCode,
    code: ApiErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

/** Shorthand for the most common one. */
export function badInput(message: string): ApiError {
  return new ApiError(400, 'BAD_INPUT', message);
}

// SQLSTATE classes meaning "the database is not there right now" rather than "this request is wrong".
const UNAVAILABLE_STATES = /^(08|53|57P0[1-4]|57014)/;
const QUERY_CANCELED = '57014';

/**
 * True for the error of a request whose client closed the connection before its body had arrived: Node
 * ends the body with `aborted` (ECONNRESET). Nobody is left to read the answer; it is not the server's fault.
 */
function isBodyCutOff(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ECONNRESET';
}

/** Maps anything thrown by a route to the wire error; the one place where errors become statuses. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isBodyCutOff(error)) return badInput('the request body ended early: the client closed the connection');
  if (error instanceof ZodError) return badInput(describeZodError(error));
  if (error instanceof HTTPException) {
    // Hono throws these for malformed JSON and the like: all client errors. A write's declared body is JSON
    // (415 from the route's media-type check), and stays a 400 as every other refused body.
    if (error.status === 415) return badInput('send the body as JSON with Content-Type: application/json');
    return error.status >= 500
      ? new ApiError(500, 'INTERNAL', 'internal error')
      : badInput(error.message || 'malformed request');
  }
  if (error instanceof DatabaseError) {
    const state = error.sqlState;
    if (state === QUERY_CANCELED)
      return new ApiError(503, 'UNAVAILABLE', 'the database did not answer in time; try a smaller range');
    // No SQLSTATE: the connection itself failed (ECONNREFUSED, a reset, a timeout).
    if (state === undefined || UNAVAILABLE_STATES.test(state))
      return new ApiError(503, 'UNAVAILABLE', 'the database is unreachable right now');
    // 22xxx: a value PostgreSQL refuses (a date out of its range, …); validation should have caught it.
    if (state.startsWith('22')) return badInput('a value is out of range');
    return new ApiError(500, 'INTERNAL', 'internal error');
  }
  if (error instanceof DtmError) {
    switch (error.code) {
      case 'BAD_INPUT':
        return badInput(error.message);
      case 'NOT_FOUND':
        return new ApiError(404, 'NOT_FOUND', error.message);
      case 'BUSY':
        return new ApiError(409, 'BUSY', error.message);
      case 'NOT_AVAILABLE':
        return new ApiError(409, 'NOT_AVAILABLE', error.message);
      case 'DUPLICATE':
        return new ApiError(409, 'DUPLICATE', error.message);
      case 'INTERVAL_MISMATCH':
      case 'LOCK_LOST':
        return new ApiError(409, 'CONFLICT', error.message);
      default:
        return new ApiError(500, 'INTERNAL', 'internal error');
    }
  }
  return new ApiError(500, 'INTERNAL', 'internal error');
}

/**
 * The `onError` of the app: logs server-side failures (with internals), answers without them. A 5xx the
 * server chose to answer (an `ApiError`, such as a refusal beyond a cap) is logged as one line: its stack
 * says nothing an operator needs.
 */
export function errorHandler(logger: Logger) {
  return (error: Error, c: Context): Response => {
    const apiError = toApiError(error);
    if (apiError.status >= 500) {
      const fields = { requestId: c.get('requestId'), method: c.req.method, path: c.req.path.slice(0, 200) };
      if (error instanceof ApiError)
        logger.warn({ ...fields, status: apiError.status, code: apiError.code }, apiError.message);
      else logger.error({ ...fields, err: error }, 'request failed');
    }
    return c.json(
      { error: { code: apiError.code, message: apiError.message }, ...apiError.extra },
      apiError.status,
    );
  };
}

/**
 * The validation hook of every route (the app's `defaultHook`): a request that its route's schemas refuse
 * goes to `onError` as its ZodError, which answers 400 BAD_INPUT like every other error.
 */
export function rejectInvalid(result: { success: true } | { success: false; error: ZodError }): void {
  if (!result.success) throw result.error;
}

function describeZodError(error: ZodError): string {
  const issues = error.issues.slice(0, 3).map((issue) => {
    const path = issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
    return `${path}${issue.message}`;
  });
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : '';
  return `${issues.join('; ')}${more}`;
}
