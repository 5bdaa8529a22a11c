import pg from 'pg';
import { BadInputError } from './errors.ts';
import type { SetUpStatement } from './holder-statements.ts';

const { escapeLiteral } = pg;

/**
 * How a lost connection is noticed. The holder must stop strictly before the server frees its lock, or another
 * worker could start the slot while the first still runs; the constructor refuses settings that do not keep
 * that order.
 */
export interface ConnectionLossOptions {
  /**
   * The holder's `signal` fires at most this long after its connection stopped answering: a heartbeat
   * (`SELECT 1`) runs on the held connection every third of it and must be answered within the remaining two
   * thirds, or the connection is destroyed. So no single statement on a held connection may run longer than
   * two thirds of it. Default 15000 (15 s: heartbeat every 5 s, answered within 10 s).
   */
  holderAbortMs?: number;
  /**
   * The server frees a silent holder's lock this long after the last packet it received from it, through
   * the session's `tcp_keepalives_idle/interval/count` (idle holder) and `tcp_user_timeout` (the server's
   * reply was never acknowledged, when keepalives do not run). Whole seconds; at least `holderAbortMs` + 1 s.
   * Also bounds every other query and connection attempt of a pool the manager built. Default 45000.
   */
  serverReleaseMs?: number;
}

/** The settings derived from `ConnectionLossOptions`, validated. */
export interface ConnectionTimings {
  holderAbortMs: number;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  /** `tcp_keepalives_idle`, `tcp_keepalives_interval` (seconds) and `tcp_keepalives_count`. */
  keepalivesIdleS: number;
  keepalivesIntervalS: number;
  keepalivesCount: number;
  /** `tcp_user_timeout`, in ms. */
  userTimeoutMs: number;
  /** The soonest the server can free the lock after the holder's last packet. */
  serverReleaseMs: number;
}

const MIN_HOLDER_ABORT_MS = 300;
const CONNECTION_CHECK_MS = 1_000;
/** Timers and the event loop may run late; the holder must stop at least this much before the server. */
const ORDER_MARGIN_MS = 1_000;

/** Validates the options and derives heartbeat and server settings; `BadInputError` when the order is wrong. */
export function resolveConnectionLoss(options: ConnectionLossOptions = {}): ConnectionTimings {
  const holderAbortMs = options.holderAbortMs ?? 15_000;
  const serverMs = options.serverReleaseMs ?? 45_000;
  if (!Number.isInteger(holderAbortMs) || holderAbortMs < MIN_HOLDER_ABORT_MS) {
    throw new BadInputError(
      `connectionLoss.holderAbortMs must be a whole number of ms, at least ${MIN_HOLDER_ABORT_MS}, got ${String(holderAbortMs)}`,
    );
  }
  if (!Number.isInteger(serverMs) || serverMs < 3_000) {
    throw new BadInputError(
      `connectionLoss.serverReleaseMs must be a whole number of ms, at least 3000, got ${String(serverMs)}`,
    );
  }
  // Keepalives count from the last packet the server received; with tcp_user_timeout set, Linux closes at
  // the first probe once that much time has passed, so idle + count × interval = total makes both agree.
  const totalS = Math.floor(serverMs / 1000);
  const idleS = Math.max(1, Math.floor(totalS / 3));
  let intervalS = Math.max(1, Math.floor((totalS - idleS) / 3));
  while ((totalS - idleS) % intervalS !== 0) intervalS -= 1;
  const count = (totalS - idleS) / intervalS;
  const serverReleaseMs = totalS * 1000;
  // The heartbeat schedule does not move with other traffic, so whatever the holder last sent, the server
  // frees the lock serverReleaseMs after it and the holder stops at most holderAbortMs after it.
  if (serverReleaseMs < holderAbortMs + ORDER_MARGIN_MS) {
    throw new BadInputError(
      `connectionLoss: the holder must stop before the server frees its lock, but holderAbortMs ${holderAbortMs} is not at least ${ORDER_MARGIN_MS} ms below serverReleaseMs ${serverReleaseMs} (whole seconds)`,
    );
  }
  const heartbeatMs = Math.floor(holderAbortMs / 3);
  return {
    holderAbortMs,
    heartbeatMs,
    heartbeatTimeoutMs: holderAbortMs - heartbeatMs,
    keepalivesIdleS: idleS,
    keepalivesIntervalS: intervalS,
    keepalivesCount: count,
    userTimeoutMs: serverReleaseMs,
    serverReleaseMs,
  };
}

/** The `pg.Pool` settings of a pool the manager builds: no query or connection attempt waits forever. */
export function poolSettings(timings: ConnectionTimings): pg.PoolConfig {
  return {
    // Node 20 can only set the socket's keepalive idle time (not its interval or count); the heartbeat is what
    // bounds detection on the holder's side, this merely helps connections that sit idle in the pool.
    keepAlive: true,
    keepAliveInitialDelayMillis: timings.heartbeatMs,
    query_timeout: timings.serverReleaseMs,
    connectionTimeoutMillis: timings.serverReleaseMs,
  };
}

/**
 * The statement that gives a holder's session server-side detection, run once per connection before it
 * holds a slot (see `setUp`): only holders keep locks, so only they need it. Done there rather than in the
 * pool's 'connect' event (which would queue a statement ahead of the pool's own, deprecated in pg 8) or in
 * startup options (which pgbouncer refuses). One statement; settings a server may not know
 * (client_connection_check_interval before PostgreSQL 14) are tried in blocks of their own, so that their
 * failure cannot undo the keepalives.
 */
export function sessionSettings(timings: ConnectionTimings): SetUpStatement {
  const declaration = `DO $dtm$ BEGIN
    PERFORM set_config('tcp_keepalives_idle', '${timings.keepalivesIdleS}', false);
    PERFORM set_config('tcp_keepalives_interval', '${timings.keepalivesIntervalS}', false);
    PERFORM set_config('tcp_keepalives_count', '${timings.keepalivesCount}', false);
    PERFORM set_config('tcp_user_timeout', '${timings.userTimeoutMs}', false);
    -- A holder's endings record their history, which is what tells the slot counts (sql/000001.sql).
    PERFORM set_config('dtm.records_history', 'on', false);
    BEGIN
      -- A statement still running when its client is gone is cancelled, and its locks freed, this soon.
      PERFORM set_config('client_connection_check_interval', '${CONNECTION_CHECK_MS}', false);
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
  END $dtm$`;
  return { name: 'dtm_session_settings', declaration };
}

/**
 * Names a holder's session after its worker (application_name, at most 63 bytes), which is how others see
 * who holds a slot (the `holders` view). Session-wide, so it costs a round trip only when a connection
 * changes hands between workers of different names, never one per slot.
 */
export function sessionName(worker: string): SetUpStatement {
  return {
    name: 'dtm_session_name',
    declaration: `SELECT set_config('application_name', ${escapeLiteral(truncateBytes(worker, 63))}, false)`,
  };
}

/** The longest prefix of `text` (whole characters) that fits in `maxBytes` of UTF-8. */
function truncateBytes(text: string, maxBytes: number): string {
  let out = '';
  for (const char of text) {
    if (Buffer.byteLength(out + char) > maxBytes) break;
    out += char;
  }
  return out;
}

/**
 * Keeps the process alive when connections die (a server restart): pg emits 'error' on a client whose
 * connection fails between two statements, and pg-pool re-emits an idle client's error on the pool; with no
 * listener either would crash the process. Nothing is lost by listening: the next statement on that client
 * fails, and the pool replaces it. Also makes sure that a connection released because of an error is closed.
 */
export function watchPool(pool: pg.Pool): void {
  pool.on('error', ignore);
  pool.on('connect', (client) => client.on('error', ignore));
  pool.on('release', (error, client) => {
    // pg-pool ends such a client politely (Terminate, then FIN); on a dead network that never completes.
    if (error) setTimeout(() => destroyConnection(client), 1_000).unref();
  });
}

/** Closes the socket at once, without waiting for the server: the only way out of a dead connection. */
export function destroyConnection(client: pg.Client): void {
  client.connection.stream.destroy();
}

function ignore(): void {}
