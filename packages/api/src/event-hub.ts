import { Backoff, type Subscription, type TaskEvent, type TaskManager } from '@dtm/core';
import type { Logger } from './deps.ts';

/** What a client of the hub receives. `resync`: events may have been missed; reload what you show. */
export type HubMessage =
  | { kind: 'event'; event: TaskEvent }
  | { kind: 'resync' }
  /**
   * Slots of these names were taken or let go without a committed transition (a worker acquired one, or a
   * holder's transaction ended without a change: a crash, a release, a lost connection).
   */
  | { kind: 'holders'; names: string[] }
  | { kind: 'ready' }
  /** The server is shutting down: end the stream (the browser reconnects to whoever serves next). */
  | { kind: 'closing' };

export type HubListener = (message: HubMessage) => void;

/** Time between two looks at the live holders while clients are attached, at least. */
const HOLDERS_POLL_MS = 1_000;
/** ... and at least this many times as long as the last look took, so that looking costs at most a tenth. */
const HOLDERS_POLL_SPACING = 10;

/**
 * What every `/api/events` client hears, from one source: one subscription of the core (`TaskManager.subscribe`),
 * so the API reads each transition from the history once, whatever the number of clients. The hub subscribes
 * while at least one client is attached (the first attach starts, the last detach stops). The subscription
 * reconnects by itself once up; the hub also retries the first connection, so a client that attaches while
 * the database is down gets `ready` once it is back.
 *
 * Taking a slot and losing it without a change commit nothing, so no history row tells of them. While clients
 * are attached the hub therefore also reads the live holders every second (one query over the AVAILABLE
 * rows, whatever the number of clients) and sends `holders` with the names whose
 * holders changed, so a grid stops showing a crashed worker's slot as running within about that time. On a
 * busy database, where that read takes longer, it looks less often: never more than a tenth of the time.
 */
export class EventHub {
  readonly #tm: TaskManager;
  readonly #logger: Logger;
  readonly #listeners = new Set<HubListener>();
  /** The subscription; null while not subscribed. */
  #subscription: Subscription | null = null;
  /** Subscribing, with backoff until it works; stopped when the last client leaves or the hub closes. */
  #opening: { done: Promise<void>; stop: AbortController } | null = null;
  #isClosed = false;
  #holdersTimer: NodeJS.Timeout | undefined;
  /** `name` → its held slots as `slot|worker|since` keys, from the last look; null before the first. */
  #holders: Map<string, Set<string>> | null = null;
  #isHoldersFailing = false;
  #holdersReadMs = 0;
  #changes = 0;

  constructor(tm: TaskManager, logger: Logger) {
    this.#tm = tm;
    this.#logger = logger;
  }

  /**
   * Counts the changes heard so far (transitions, holders, resyncs). A cached read taken at an older count
   * may predate a change that clients were told of, so it must not be served again.
   */
  get changes(): number {
    return this.#changes;
  }

  /** Clients attached right now. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Whether the hub hears changes right now: subscribed, with the subscription's connection up. */
  get isConnected(): boolean {
    return this.#subscription?.isConnected ?? false;
  }

  /** Attaches a client; it gets `ready` as soon as the subscription listens. Returns the detach function. */
  attach(listener: HubListener): () => void {
    this.#listeners.add(listener);
    if (this.isConnected) listener({ kind: 'ready' });
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
    if (message.kind === 'event' || message.kind === 'holders' || message.kind === 'resync')
      this.#changes += 1;
    for (const listener of this.#listeners) {
      try {
        listener(message);
      } catch (error) {
        this.#logger.error({ err: error }, 'an event stream listener failed');
      }
    }
  }

  #watchHolders(): void {
    if (this.#holdersTimer || this.#isClosed || this.#listeners.size === 0) return;
    const timer = setTimeout(
      async () => {
        const started = performance.now();
        const holders = await this.#readHolders();
        this.#holdersReadMs = performance.now() - started;
        if (this.#holdersTimer !== timer) return; // stopped meanwhile: this look is stale
        this.#holdersTimer = undefined;
        if (holders) this.#compareHolders(holders);
        this.#watchHolders();
      },
      Math.max(HOLDERS_POLL_MS, this.#holdersReadMs * HOLDERS_POLL_SPACING),
    );
    timer.unref();
    this.#holdersTimer = timer;
  }

  /** The held slots by name, as `slot|worker|since` keys; null when the database cannot be read. */
  async #readHolders(): Promise<Map<string, Set<string>> | null> {
    try {
      const holders = new Map<string, Set<string>>();
      for (const row of await this.#tm.listHolders()) {
        const keys = holders.get(row.name) ?? new Set<string>();
        keys.add(`${row.slot.getTime()}|${row.worker}|${row.since?.getTime()}`);
        holders.set(row.name, keys);
      }
      this.#isHoldersFailing = false;
      return holders;
    } catch (error) {
      // The event subscription reports the outage and sends resync; keep looking until the database is back.
      if (!this.#isHoldersFailing) {
        this.#logger.warn({ err: error }, 'cannot read the live holders');
      }
      this.#isHoldersFailing = true;
      return null;
    }
  }

  #compareHolders(current: Map<string, Set<string>>): void {
    // The first look compares with nothing held, so a client that attached while a slot was being taken
    // hears of it too.
    const previous = this.#holders ?? new Map<string, Set<string>>();
    this.#holders = current;
    const changed = [...new Set([...previous.keys(), ...current.keys()])].filter((name) => {
      const before = previous.get(name) ?? new Set<string>();
      const now = current.get(name) ?? new Set<string>();
      return before.size !== now.size || [...before].some((key) => !now.has(key));
    });
    if (changed.length > 0) this.#broadcast({ kind: 'holders', names: changed });
  }

  #open(): void {
    if (this.#isClosed || this.#subscription || this.#opening) return;
    const stop = new AbortController();
    const subscribing = new Backoff({ signal: stop.signal }).retry(
      () =>
        this.#tm.subscribe({
          onEvent: (event) => this.#broadcast({ kind: 'event', event }),
          onResync: () => {
            this.#logger.info({}, 'told to resync; telling event stream clients to resync');
            this.#broadcast({ kind: 'resync' });
          },
          onError: (error) => this.#logger.warn({ err: error }, 'the event subscription failed'),
        }),
      (error) => this.#logger.warn({ err: error }, 'cannot listen for events; retrying'),
    );
    const done = subscribing.then(async (subscription) => {
      this.#opening = null;
      if (this.#isClosed || this.#listeners.size === 0) {
        await subscription?.close();
        return;
      }
      // Stopped while a client attached again (see #stop): subscribe for it.
      if (!subscription) return this.#open();
      this.#subscription = subscription;
      this.#broadcast({ kind: 'ready' });
      this.#watchHolders();
    });
    this.#opening = { done, stop };
  }

  async #stop(): Promise<void> {
    this.#opening?.stop.abort();
    clearTimeout(this.#holdersTimer);
    this.#holdersTimer = undefined;
    this.#holders = null;
    if (this.#opening) await this.#opening.done;
    const subscription = this.#subscription;
    this.#subscription = null;
    // A client may have attached while we waited: keep listening for it.
    if (subscription && (this.#isClosed || this.#listeners.size === 0)) await subscription.close();
    else if (subscription) {
      this.#subscription = subscription;
      this.#watchHolders();
    }
  }
}
