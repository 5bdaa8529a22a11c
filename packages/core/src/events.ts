import { randomBytes } from 'node:crypto';
import pg from 'pg';
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
  /**
   * Whether the transition recorded a message. Told only for a holder's ending (from ACQUIRED); absent
   * for every other transition (read the slot to know).
   */
  hasMessage?: boolean;
}

/** One statement changed many slots of a name at once (a bulk create, re-queue or skip). */
export interface BulkEvent {
  kind: 'bulk';
  name: string;
  count: number;
}

export type TaskEvent = TransitionEvent | BulkEvent;

export interface SubscribeOptions {
  /** Called for every committed transition, in commit order. */
  onEvent: (event: TaskEvent) => void;
  /** Called after the listening connection was lost and is back: events in between were missed, so resync. */
  onReconnect?: () => void;
  /** Called when the listening connection fails (it is retried with backoff until `close`). */
  onError?: (error: Error) => void;
}

/** A live subscription; `close()` ends its connection. */
export interface Subscription {
  close(): Promise<void>;
  /** Whether the listening connection is up right now. */
  readonly isConnected: boolean;
  /**
   * Resolves once every notification committed before the call has been delivered (to `onEvent`): it sends
   * a marker through the listening connection and waits for it to come back, and the server delivers
   * notifications in commit order. Rejects if the connection is not listening, is lost meanwhile, or the
   * marker is not back within `timeoutMs` (default 10 s).
   */
  sync(timeoutMs?: number): Promise<void>;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;
const SYNC_TIMEOUT_MS = 10_000;
/** Payloads of `sync` markers; subscribers elsewhere ignore them (they are no event). */
const SYNC_PREFIX = 'dtm-sync:';

/**
 * LISTENs on the schema's channel over a connection of its own (never one that holds a slot), and keeps
 * reconnecting with backoff when it is lost.
 */
export function subscribe(
  connection: pg.ClientConfig,
  schema: Schema,
  options: SubscribeOptions,
): Promise<Subscription> {
  return listen(connection, schema.channel, {
    ...options,
    onPayload: (payload) => {
      for (const event of parseEvents(payload)) options.onEvent(event);
    },
  });
}

/** How `listen` reports: each notification's payload, reconnections and failures (see `SubscribeOptions`). */
export interface ListenOptions extends Omit<SubscribeOptions, 'onEvent'> {
  onPayload: (payload: string) => void;
}

/** A subscription whose LISTEN can be paused while its owner has no use for notifications. */
export interface PausableSubscription extends Subscription {
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
}

/**
 * LISTENs on `channel` over a connection of its own (never one that holds a slot), and keeps reconnecting
 * with backoff when it is lost.
 */
export async function listen(
  connection: pg.ClientConfig,
  channel: string,
  options: ListenOptions,
): Promise<PausableSubscription> {
  let client: pg.Client | null = null;
  let isClosed = false;
  let isConnected = false;
  let retryMs = RETRY_MIN_MS;
  let retryTimer: NodeJS.Timeout | undefined;
  /** What the owner asked for last (resume/pause), and what the connection has done. */
  let isWanted = true;
  let isListening = false;
  /** LISTEN and UNLISTEN run one after the other, each bringing the connection to what is wanted then. */
  let changes: Promise<void> = Promise.resolve();
  /** The `sync` markers on their way: payload → settle. */
  const markers = new Map<string, (error?: Error) => void>();
  /**
   * Callers of `sync` waiting for the next marker. One marker is sent at a time, and every caller that came
   * while it was being sent shares the next one (sent after they called, so it answers them all): many
   * readers at once cost one or two notifications, not one each, for this connection and every other
   * listener, whom the server wakes for each.
   */
  let nextMarker: Array<(error?: Error) => void> = [];
  let isSendingMarker = false;

  const onNotification = (message: pg.Notification) => {
    if (message.channel !== channel || !message.payload) return;
    const marker = markers.get(message.payload);
    if (marker) marker();
    else options.onPayload(message.payload);
  };

  const failMarkers = (error: Error) => {
    for (const settle of [...markers.values(), ...nextMarker]) settle(error);
    nextMarker = [];
  };

  const sendMarker = () => {
    const waiting = nextMarker;
    nextMarker = [];
    if (waiting.length === 0) return;
    const current = client;
    if (!current || !isConnected || !isListening) {
      for (const settle of waiting) settle(new Error(`not listening on ${channel}`));
      return;
    }
    const payload = `${SYNC_PREFIX}${randomBytes(12).toString('hex')}`;
    const settleAll = (error?: Error) => {
      markers.delete(payload);
      for (const settle of waiting) settle(error);
    };
    markers.set(payload, settleAll);
    isSendingMarker = true;
    // The channel as a literal: the session's query text (pg_stat_activity) tells which channel it is.
    current
      .query(`SELECT pg_notify(${current.escapeLiteral(channel)}, $1)`, [payload])
      .catch(settleAll)
      .finally(() => {
        isSendingMarker = false;
        sendMarker();
      });
  };

  const connect = async (isReconnect: boolean): Promise<void> => {
    const next = new pg.Client(connection);
    next.on('error', (error) => lost(next, error));
    next.on('end', () => lost(next, new Error('listening connection ended')));
    next.on('notification', onNotification);
    client = next;
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
    retryMs = RETRY_MIN_MS;
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
    if (which !== client || isClosed) return;
    client = null;
    isConnected = false;
    isListening = false;
    which.removeAllListeners('notification');
    which.on('error', () => {});
    which.end().catch(() => {});
    failMarkers(error);
    options.onError?.(error);
    scheduleReconnect();
  };

  const scheduleReconnect = () => {
    if (isClosed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect(true).catch((error: unknown) => {
        if (client) lost(client, error instanceof Error ? error : new Error(String(error)));
      });
    }, retryMs);
    retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
  };

  try {
    await connect(false);
  } catch (error) {
    // Nobody will hold this subscription, so nobody could close it: it must not go on reconnecting.
    isClosed = true;
    clearTimeout(retryTimer);
    const failed = client as pg.Client | null;
    client = null;
    failed?.on('error', () => {});
    await failed?.end().catch(() => {});
    throw error;
  }
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
      void change(false);
    },
    sync(timeoutMs = SYNC_TIMEOUT_MS) {
      if (!client || !isConnected || !isListening)
        return Promise.reject(new Error(`not listening on ${channel}`));
      return new Promise<void>((resolve, reject) => {
        let isSettled = false;
        const timer = setTimeout(
          () => settle(new Error(`no answer from the listening connection within ${timeoutMs} ms`)),
          timeoutMs,
        );
        const settle = (error?: Error) => {
          if (isSettled) return;
          isSettled = true;
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        };
        nextMarker.push(settle);
        if (!isSendingMarker) sendMarker();
      });
    },
    async close() {
      isClosed = true;
      failMarkers(new Error('subscription closed'));
      clearTimeout(retryTimer);
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

interface Payload {
  bulk?: boolean;
  name?: string;
  count?: number;
  slot?: string;
  from?: TaskState | null;
  to?: TaskState;
  actor?: string | null;
  at?: string;
  /** Only from a holder's ending: when it took the slot (sql/000004.sql). */
  acquiredAt?: string;
  /** Only from a holder's ending: whether it recorded a message (sql/000005.sql). */
  hasMessage?: boolean;
}

/**
 * The events of one notification: one, or, for a holder's ending, both of the transitions it recorded
 * (AVAILABLE → ACQUIRED at `acquiredAt`, then the ending itself, by the same actor), in that order.
 */
function parseEvents(payload: string): TaskEvent[] {
  let data: Payload;
  try {
    data = JSON.parse(payload) as Payload;
  } catch {
    return [];
  }
  if (typeof data.name !== 'string') return [];
  if (data.bulk) return [{ kind: 'bulk', name: data.name, count: Number(data.count ?? 0) }];
  if (!data.slot || !data.to || !data.at) return [];
  const ended: TransitionEvent = {
    kind: 'transition',
    name: data.name,
    slot: new Date(data.slot),
    from: data.from ?? null,
    to: data.to,
    actor: data.actor ?? null,
    at: new Date(data.at),
  };
  if (!data.acquiredAt) return [ended];
  if (typeof data.hasMessage === 'boolean') ended.hasMessage = data.hasMessage;
  const acquired: TransitionEvent = {
    kind: 'transition',
    name: data.name,
    slot: ended.slot,
    actor: ended.actor,
    from: 'AVAILABLE',
    to: 'ACQUIRED',
    at: new Date(data.acquiredAt),
  };
  return [acquired, ended];
}
