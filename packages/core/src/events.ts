import pg from 'pg';
import { Backoff } from './backoff.ts';
import { BadInputError } from './errors.ts';
import type { Schema } from './schema.ts';
import type { TaskState } from './types.ts';

/** A committed transition of one slot (`from` is null when the slot was created). */
export interface TransitionEvent {
  kind: 'transition';
  name: string;
  slot: Date;
  from: TaskState | null;
  to: TaskState;
  actor: string | null;
  at: Date;
  /** Whether the transition recorded a message (a failure's, a reason, or what the work returned). */
  hasMessage: boolean;
}

/** One transaction changed more than 100 slots of a name (a bulk create, re-queue or skip). */
export interface BulkEvent {
  kind: 'bulk';
  name: string;
  count: number;
}

export type TaskEvent = TransitionEvent | BulkEvent;

export interface SubscribeOptions {
  /** Called for every committed transition, in commit order for each slot. */
  onEvent: (event: TaskEvent) => void;
  /**
   * Called when what you keep should be read again: after the connection was lost and is back (no event is
   * missed, the history is read on from where the last read stopped, but a change made without being
   * recorded in the history may have been), and when a read finds more than 50,000 transitions to tell
   * (a subscriber that fell far behind), which it skips instead of delivering them.
   */
  onResync?: () => void;
  /**
   * Called when the connection fails (it is retried with backoff until `close`), or a read of the history
   * does.
   */
  onError?: (error: Error) => void;
  /**
   * How often the history is read when no notification came, in ms (a holder's ending notifies nobody, so
   * this is how soon it is seen). Default 200.
   */
  pollInterval?: number;
}

/** A live subscription; `close()` ends its connection. */
export interface Subscription {
  close(): Promise<void>;
  /** Whether the subscription's connection is up right now. */
  readonly isConnected: boolean;
  /**
   * Resolves once every transition committed before the call has been delivered (to `onEvent`): it reads
   * the history (or waits for a read that began after the call). Rejects if the connection is down, is lost
   * meanwhile, or the read does not end within `timeoutMs` (default 10 s).
   */
  sync(timeoutMs?: number): Promise<void>;
}

const SYNC_TIMEOUT_MS = 10_000;
const DEFAULT_POLL_MS = 200;
/** A transaction that records more transitions of one name than this is told as one BulkEvent. */
const BULK_OVER = 100;
/** A read that finds more transitions than this to tell skips them and asks for a resync. */
const MOST_TOLD = 50_000;

/**
 * Reads the schema's committed transitions from its history, over a connection of its own (never one that
 * holds a slot), and keeps reconnecting with backoff when it is lost.
 *
 * Holders' endings, the commonest transitions, are announced to nobody (sql/000001.sql): every history row
 * records the transaction that wrote it, and each read returns the rows of the transactions that had not
 * ended at the previous read, told by that read's snapshot: any id from its xmax on, and the ids it listed as
 * running. So a read sees each committed row once, however late its transaction commits, and misses none,
 * even across a lost connection. The connection also LISTENs to the schema's channel, on which every other
 * writer names what it changed (sql/000001.sql): the history is read at once when one arrives, and otherwise
 * every `pollInterval`.
 *
 * Rows of one slot are read in the order they were committed (each writer of a slot holds its row lock, and
 * the next one records after it); a read delivers its rows in the order they were recorded.
 */
export async function subscribe(
  connection: pg.ClientConfig,
  schema: Schema,
  options: SubscribeOptions,
): Promise<Subscription> {
  const pollMs = options.pollInterval ?? DEFAULT_POLL_MS;
  if (!Number.isInteger(pollMs) || pollMs < 10 || pollMs > 60_000)
    throw new BadInputError(`pollInterval must be a whole number from 10 to 60000, got ${String(pollMs)}`);
  const text = readHistory(schema);
  /** The snapshot of the last read, as text: which transactions had ended then. */
  let snapshot = '';
  /** Set once the first read is done; null again when closed. */
  let listening: ListeningConnection | null = null;
  let isReading = false;
  /**
   * Callers waiting for the next read: one runs at a time, and every caller that came meanwhile shares the
   * next.
   */
  let nextRead: Array<(error?: Error) => void> = [];

  const deliver = (rows: HistoryRow[]) => {
    for (const row of rows) {
      if (row.id === null) {
        snapshot = row.snapshot as string;
        if (row.is_over) options.onResync?.();
        continue;
      }
      const event: TaskEvent =
        row.count === null
          ? {
              kind: 'transition',
              name: row.name,
              slot: row.slot as Date,
              from: row.from_state,
              to: row.to_state as TaskState,
              actor: row.actor,
              at: row.at as Date,
              hasMessage: row.has_message as boolean,
            }
          : { kind: 'bulk', name: row.name, count: Number(row.count) };
      try {
        options.onEvent(event);
      } catch (error) {
        options.onError?.(error instanceof Error ? error : new Error(String(error)));
      }
    }
  };

  const read = () => {
    if (!listening) return;
    const waiting = nextRead;
    nextRead = [];
    if (waiting.length === 0) return;
    isReading = true;
    const connection = listening;
    connection
      .query<HistoryRow>(text, [snapshot])
      .then(
        (result) => {
          if (listening) deliver(result.rows);
          for (const settle of waiting) settle();
        },
        (error: Error) => {
          if (connection.isConnected) options.onError?.(error);
          for (const settle of waiting) settle(error);
        },
      )
      .finally(() => {
        isReading = false;
        read();
      });
  };

  /** Resolves after a read that began after the call. */
  const readAfterNow = (settle: (error?: Error) => void) => {
    nextRead.push(settle);
    if (!isReading) read();
  };
  /** On a notification or the poll timer. Before the first read is done, that read covers it. */
  const readSoon = () => {
    if (listening && nextRead.length === 0) readAfterNow(() => {});
  };

  const connected = await listen(connection, schema.channel, {
    onPayload: readSoon,
    onReconnect: () => {
      options.onResync?.();
      readSoon();
    },
    onError: options.onError,
  });
  try {
    const { rows } = await connected.query<{ snapshot: string }>(
      'SELECT pg_current_snapshot()::text AS snapshot',
    );
    snapshot = rows[0]?.snapshot as string;
    // Once now, so that a history this connection cannot read fails here, not in every later read.
    deliver((await connected.query<HistoryRow>(text, [snapshot])).rows);
  } catch (error) {
    await connected.close();
    throw error;
  }
  listening = connected;
  const poll = setInterval(readSoon, pollMs);
  poll.unref();

  return {
    get isConnected() {
      return connected.isConnected;
    },
    sync(timeoutMs = SYNC_TIMEOUT_MS) {
      if (!connected.isConnected) return Promise.reject(new Error(`not listening on ${schema.channel}`));
      return new Promise<void>((resolve, reject) => {
        let isSettled = false;
        const timer = setTimeout(
          () => settle(new Error(`no answer from the subscription's connection within ${timeoutMs} ms`)),
          timeoutMs,
        );
        const settle = (error?: Error) => {
          if (isSettled) return;
          isSettled = true;
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        };
        readAfterNow(settle);
      });
    },
    async close() {
      listening = null;
      clearInterval(poll);
      for (const settle of nextRead.splice(0)) settle(new Error('subscription closed'));
      await connected.close();
    },
  };
}

/**
 * A row of `readHistory`: a transition, a bulk summary (`count`), or the read's snapshot (`id` null), with
 * whether it found too many transitions to tell (`is_over`).
 */
interface HistoryRow {
  id: string | null;
  snapshot: string | null;
  is_over: boolean | null;
  name: string;
  slot: Date | null;
  from_state: TaskState | null;
  to_state: TaskState | null;
  actor: string | null;
  has_message: boolean | null;
  at: Date | null;
  count: string | null;
}

/**
 * $1: the previous read's snapshot. First, this read's snapshot (one statement, so that it is the snapshot the
 * rows were read in) and whether there are more than MOST_TOLD transitions to tell; then, unless there are,
 * the rows written by the transactions that had not ended at the previous read, in the order they were
 * recorded, a transaction's rows of one name summarised when there are more than BULK_OVER of them.
 */
function readHistory(schema: Schema): string {
  return `WITH changed AS MATERIALIZED (
      SELECT id, nth, xid, name, slot, from_state, to_state, actor, message IS NOT NULL AS has_message, at
      FROM ${schema.sql}.transitions
      WHERE xid >= pg_snapshot_xmax($1::pg_snapshot)
         OR xid = ANY (ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot)))
    ), bulk AS MATERIALIZED (
      SELECT xid, name, count(*) AS count, max(id) AS id
      FROM changed
      GROUP BY xid, name
      HAVING count(*) > ${BULK_OVER}
    ), told AS MATERIALIZED (
      SELECT * FROM changed c WHERE NOT EXISTS (SELECT FROM bulk b WHERE b.xid = c.xid AND b.name = c.name)
    ), over AS (
      SELECT count(*) > ${MOST_TOLD} AS is_over FROM told
    )
    SELECT NULL::bigint AS id, NULL::int AS nth, pg_current_snapshot()::text AS snapshot, over.is_over, NULL AS name,
           NULL::timestamptz AS slot, NULL AS from_state, NULL AS to_state, NULL AS actor,
           NULL::boolean AS has_message, NULL::timestamptz AS at, NULL::bigint AS count
    FROM over
    UNION ALL
    SELECT id, nth, NULL, NULL, name, slot, from_state, to_state, actor, has_message, at, NULL
    FROM told
    WHERE NOT (SELECT is_over FROM over)
    UNION ALL
    SELECT id, 1, NULL, NULL, name, NULL, NULL, NULL, NULL, NULL, NULL, count
    FROM bulk
    WHERE NOT (SELECT is_over FROM over)
    ORDER BY id NULLS FIRST, nth`;
}

/** How `listen` reports: each notification's payload, reconnections and failures. */
export interface ListenOptions {
  onPayload: (payload: string) => void;
  /** Called after the connection was lost and is back: notifications in between were missed. */
  onReconnect?: () => void;
  /** Called when the connection fails (it is retried with backoff until `close`). */
  onError?: (error: Error) => void;
}

/** A connection of its own that LISTENs on a channel, which can be paused while its owner has no use for it. */
export interface ListeningConnection {
  /** Whether the connection is up right now. */
  readonly isConnected: boolean;
  /** Whether notifications are being delivered right now: connected, and LISTENing. */
  readonly isListening: boolean;
  /** Whether `pause` was the last asked for. */
  readonly isPaused: boolean;
  /**
   * LISTENs again (after every LISTEN or UNLISTEN asked for before it); true once notifications are
   * delivered, false if the connection is down (it is back by itself later) or a later `pause` won.
   */
  resume(): Promise<boolean>;
  /** UNLISTENs: the server stops waking this connection for every notification committed in the database. */
  pause(): void;
  /** Runs a statement on the connection; rejects at once when it is down. */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  close(): Promise<void>;
}

/**
 * LISTENs on `channel` over a connection of its own (never one that holds a slot), and keeps reconnecting
 * with backoff when it is lost.
 */
export async function listen(
  connection: pg.ClientConfig,
  channel: string,
  options: ListenOptions,
): Promise<ListeningConnection> {
  let client: pg.Client | null = null;
  let isClosed = false;
  let isConnected = false;
  const closing = new AbortController();
  const backoff = new Backoff({ signal: closing.signal });
  let isReconnecting = false;
  /** What the owner asked for last (resume/pause), and what the connection has done. */
  let isWanted = true;
  let isListening = false;
  /** LISTEN and UNLISTEN run one after the other, each bringing the connection to what is wanted then. */
  let changes: Promise<void> = Promise.resolve();

  const onNotification = (message: pg.Notification) => {
    if (message.channel === channel && message.payload) options.onPayload(message.payload);
  };

  /** Connects and LISTENs; a failure ends the new connection and is thrown (a loss is reported once up). */
  const connect = async (isReconnect: boolean): Promise<void> => {
    const next = new pg.Client(connection);
    next.on('error', (error) => lost(next, error));
    next.on('end', () => lost(next, new Error('listening connection ended')));
    next.on('notification', onNotification);
    client = next;
    try {
      await next.connect();
      const isListened = isWanted;
      if (isListened) await next.query(`LISTEN "${channel}"`);
      if (isClosed) {
        await next.end();
        return;
      }
      isConnected = true;
      isListening = isListened;
      if (isListening !== isWanted) void change(isWanted); // paused or resumed meanwhile
    } catch (error) {
      if (client === next) client = null;
      await dispose(next);
      throw error;
    }
    if (isReconnect) options.onReconnect?.();
  };

  const change = (want: boolean): Promise<void> => {
    isWanted = want;
    changes = changes.then(async () => {
      const current = client;
      if (!current || !isConnected || isListening === isWanted) return;
      const isListened = isWanted;
      try {
        await current.query(isListened ? `LISTEN "${channel}"` : `UNLISTEN "${channel}"`);
        if (current === client) isListening = isListened;
      } catch {
        // The connection failed: its 'error' event reconnects, and the new connection does what is wanted.
      }
    });
    return changes;
  };

  const lost = (which: pg.Client, error: Error) => {
    // A connection still connecting reports its failure by throwing (see connect).
    if (which !== client || !isConnected || isClosed) return;
    client = null;
    isConnected = false;
    isListening = false;
    void dispose(which);
    options.onError?.(error);
    void reconnect();
  };

  const reconnect = async () => {
    if (isReconnecting) return;
    isReconnecting = true;
    // A server that just dropped us is rarely back at once: the first attempt waits too.
    if (await backoff.wait()) {
      await backoff.retry(
        () => connect(true),
        (error) => {
          if (!isClosed) options.onError?.(error instanceof Error ? error : new Error(String(error)));
        },
      );
    }
    isReconnecting = false;
    // Lost again before this run ended: its loss found a run under way, so start the next one.
    if (!isClosed && !isConnected) void reconnect();
  };

  // Nobody holds a listener whose first connection failed, so nobody could close it: it is not retried here.
  await connect(false);
  return {
    get isConnected() {
      return isConnected;
    },
    get isListening() {
      return isConnected && isListening;
    },
    get isPaused() {
      return !isWanted;
    },
    async resume() {
      await change(true);
      return isConnected && isListening;
    },
    pause() {
      // A lane pauses before every slot it takes: once asked, there is nothing more to ask.
      if (isWanted) void change(false);
    },
    query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      if (!client || !isConnected)
        return Promise.reject(new Error(`not connected (listening on ${channel})`));
      return client.query<R>(text, values);
    },
    async close() {
      isClosed = true;
      closing.abort();
      const last = client;
      client = null;
      isConnected = false;
      if (last) {
        last.on('error', () => {});
        await last.end().catch(() => {});
      }
    },
  };
}

/** Ends a connection that is no longer used, whatever state it is in. */
async function dispose(client: pg.Client): Promise<void> {
  client.removeAllListeners('notification');
  client.on('error', () => {});
  await client.end().catch(() => {});
}
