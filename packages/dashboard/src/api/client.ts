/** The error every failed API call throws: the HTTP status and the API's stable error code, in words. */
export class ApiError extends Error {
  /** HTTP status; 0 when the API could not be reached at all. */
  readonly status: number;
  /** The API's error code (`BAD_INPUT`, `UNAUTHORIZED`, `READ_ONLY`, `NOT_FOUND`, `BUSY`, …) or `NETWORK`. */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Options of {@link apiFetch}. */
export interface ApiFetchOptions {
  /** HTTP method; default `GET`, or `POST` when a body is given. */
  method?: 'GET' | 'POST';
  /** Sent as JSON. */
  body?: unknown;
  /** Bearer token for writes (and for `whoami`); default none. */
  token?: string | null;
  /** Aborts the request (react-query passes one). */
  signal?: AbortSignal;
}

interface WireError {
  error?: { code?: unknown; message?: unknown };
}

function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && 'error' in value;
}

/**
 * Calls the DTM API and returns its JSON body typed as `T` (the wire type; map it to domain types in the
 * resource module). Throws {@link ApiError} for every non-2xx answer and for network failures.
 */
export async function apiFetch<T>(path: string, options: ApiFetchOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal: options.signal ?? null,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK', 'The API cannot be reached. Check that the DTM API sidecar is running.');
  }
  const text = await response.text();
  let body: unknown = null;
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const wire = isWireError(body) ? body.error : undefined;
    const code = typeof wire?.code === 'string' ? wire.code : statusCode(response.status);
    const message =
      typeof wire?.message === 'string' && wire.message !== ''
        ? wire.message
        : `The API answered ${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, code, message);
  }
  return body as T;
}

function statusCode(status: number): string {
  switch (status) {
    case 400:
      return 'BAD_INPUT';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'READ_ONLY';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'BUSY';
    case 413:
      return 'TOO_LARGE';
    case 503:
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}

/** A sentence for the user explaining what went wrong and what to do, for any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    switch (error.code) {
      case 'NETWORK':
        return error.message;
      case 'UNAUTHORIZED':
        return `The API rejected the token: ${error.message}. Sign in again with a valid token.`;
      case 'READ_ONLY':
        return `The server is read-only (it has no API token configured), so it accepts no changes: ${error.message}`;
      case 'BUSY':
        return `A worker holds the slot right now, so nothing was changed: ${error.message}`;
      case 'NOT_FOUND':
        return `Not found: ${error.message}`;
      case 'TOO_LARGE':
        return `Too many slots in one request; choose a smaller range: ${error.message}`;
      case 'BAD_INPUT':
        return `The API refused the request: ${error.message}`;
      case 'UNAVAILABLE':
        return `The API cannot reach its database: ${error.message}`;
      default:
        return `The API failed (${error.status} ${error.code}): ${error.message}`;
    }
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Builds `path?query` from defined, non-empty values. */
export function withQuery(
  path: string,
  query: Record<string, string | number | boolean | undefined | null>,
): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const search = params.toString();
  return search === '' ? path : `${path}?${search}`;
}
