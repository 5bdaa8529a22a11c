import type { Subscription, TaskEvent, TaskManager } from '@dtm/core';
import type { Logger } from './deps.ts';

/** What a client of the hub receives. `resync`: events may have been missed; reload what you show. */
export type HubMessage =
  | { kind: 'event'; event: TaskEvent }
  | { kind: 'resync' }
  | { kind: 'ready' }
  /** The server is shutting down: end the stream (the browser reconnects to whoever serves next). */
  | { kind: 'closing' };

export type HubListener = (message: HubMessage) => void;

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

/**
 * One LISTEN subscription shared by every `/api/events` client. It listens while at least one client is
 * attached (the first attach opens it, the last detach closes it), so an idle server holds no extra
 * connection. The core's subscription reconnects by itself once up; the hub also retries the first
 * connection, so a client that attaches while the database is down gets `ready` once it is back.
 */
export class EventHub {
  readonly #tm: TaskManager;
  readonly #logger: Logger;
  readonly #listeners = new Set<HubListener>();
  #subscription: Subscription | null = null;
  #opening: Promise<void> | null = null;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs = RETRY_MIN_MS;
  #isClosed = false;

  constructor(tm: TaskManager, logger: Logger) {
    this.#tm = tm;
    this.#logger = logger;
  }

  /** Clients attached right now. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Whether the shared subscription is listening right now. */
  get isConnected(): boolean {
    return this.#subscription?.isConnected ?? false;
  }

  /** Attaches a client; it gets `ready` as soon as the subscription listens. Returns the detach function. */
  attach(listener: HubListener): () => void {
    this.#listeners.add(listener);
    if (this.#subscription?.isConnected) listener({ kind: 'ready' });
    else this.#open();
    return () => {
      if (!this.#listeners.delete(listener)) return;
      if (this.#listeners.size === 0) void this.#stop();
    };
  }

  /** Detaches every client and closes the subscription for good. */
  async close(): Promise<void> {
    this.#isClosed = true;
    this.#broadcast({ kind: 'closing' });
    this.#listeners.clear();
    await this.#stop();
  }

  #broadcast(message: HubMessage): void {
    for (const listener of this.#listeners) {
      try {
        listener(message);
      } catch (error) {
        this.#logger.error('an event stream listener failed', error);
      }
    }
  }

  #open(): void {
    if (this.#isClosed || this.#subscription || this.#opening || this.#retryTimer) return;
    this.#opening = this.#tm
      .subscribe({
        onEvent: (event) => this.#broadcast({ kind: 'event', event }),
        onReconnect: () => {
          this.#logger.info('event subscription reconnected; telling clients to resync');
          this.#broadcast({ kind: 'resync' });
        },
        onError: (error) => this.#logger.warn(`event subscription lost: ${error.message}; reconnecting`),
      })
      .then(
        async (subscription) => {
          this.#opening = null;
          if (this.#isClosed || this.#listeners.size === 0) {
            await subscription.close();
            return;
          }
          this.#subscription = subscription;
          this.#retryMs = RETRY_MIN_MS;
          this.#broadcast({ kind: 'ready' });
        },
        (error: unknown) => {
          this.#opening = null;
          const message = error instanceof Error ? error.message : String(error);
          this.#logger.warn(`cannot listen for events (${message}); retrying`);
          if (this.#isClosed || this.#listeners.size === 0) return;
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#open();
          }, this.#retryMs);
          this.#retryTimer.unref();
          this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
        },
      );
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#opening) await this.#opening;
    const subscription = this.#subscription;
    this.#subscription = null;
    // A client may have attached while we waited: keep listening for it.
    if (subscription && (this.#isClosed || this.#listeners.size === 0)) await subscription.close();
    else if (subscription) this.#subscription = subscription;
  }
}
