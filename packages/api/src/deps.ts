import type { TaskManager, WorkerLogger } from '@dtm/core';
import type { EventHub } from './event-hub.ts';

/** Who may write, and optionally who may read. */
export interface AuthConfig {
  /** The bearer token every write needs. Null: the server is read-only and answers writes 403 READ_ONLY. */
  token: string | null;
  /** Recorded in history as `<tokenName>@<client address>` for writes made with the token. Default `api`. */
  tokenName?: string;
  /**
   * Basic auth on every read (the dashboard, `/api/*` GETs, `/metrics`; not `/api/health`). A request that
   * carries the right bearer token may read too. Default: reads are open.
   */
  readAuth?: { user: string; password: string } | null;
}

/** Caps that keep one request from tying up the server. */
export interface Limits {
  /** Largest request body, in bytes; larger ones answer 413 TOO_LARGE. Default 1 MiB. */
  maxBodyBytes: number;
  /** Most slots one write (re-queue, skip, backfill) may name or span. Default 10,000. */
  maxSlotsPerRequest: number;
  /** Most names in one grid request. Default 500. */
  maxGridNames: number;
  /** Most concurrent `/api/events` streams. Default 200. */
  maxEventClients: number;
  /** Time between SSE comment heartbeats, in ms. Default 15,000. */
  heartbeatMs: number;
  /** Look-back window of the `dtm_missing_slots` metric, in ms. Default one day. */
  metricsLookbackMs: number;
  /**
   * How long a computed grid (from its start) is served again to identical requests (same names, window and
   * columns) while no change was announced since it started; concurrent identical requests share one
   * computation whatever this is. 0: no reuse. Default 1,000 ms.
   */
  gridCacheMs: number;
  /**
   * The same for `/api/names`: how long a computed summary (from its start) is served again while no change
   * was announced since it started; concurrent requests share one computation whatever this is. 0: no
   * reuse. Default 1,000 ms.
   */
  namesCacheMs: number;
}

/** The defaults of {@link Limits}. */
export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: 1024 * 1024,
  maxSlotsPerRequest: 10_000,
  maxGridNames: 500,
  maxEventClients: 200,
  heartbeatMs: 15_000,
  metricsLookbackMs: 86_400_000,
  gridCacheMs: 1_000,
  namesCacheMs: 1_000,
};

/**
 * Where the app logs: the worker's logger shape (fields first, then the message), so a pino logger fits as
 * it is (see `createLogger`). Errors are passed as `err`, which pino serialises with their stack.
 */
export type Logger = WorkerLogger;

/** Everything `createApp` needs; it reads no environment and opens no pool of its own. */
export interface AppDeps {
  /** The API's own TaskManager (its own small pool, never the workers'). */
  tm: TaskManager;
  auth: AuthConfig;
  /** Overrides of {@link DEFAULT_LIMITS}. */
  limits?: Partial<Limits>;
  /** The built dashboard (`index.html` and assets). Null or missing: `/` answers 404 with a hint. */
  dashboardDir?: string | null;
  /** Origins allowed by CORS. Default none: CORS is off. */
  corsOrigins?: readonly string[];
  /** What every event stream hears; default one that subscribes while any client streams. */
  events?: EventHub;
  /** Default: `quietLogger`, warnings and errors only. */
  logger?: Logger;
  /** The clock of grid and metrics (tests); default `() => new Date()`. */
  now?: () => Date;
}

/** `AppDeps` with every default filled in: what the routes get. */
export interface RouteDeps {
  tm: TaskManager;
  auth: AuthConfig;
  limits: Limits;
  logger: Logger;
  events: EventHub;
  now: () => Date;
}
