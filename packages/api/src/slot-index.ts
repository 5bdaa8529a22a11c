import {
  DatabaseError,
  type Subscription,
  sqlStateOf,
  type TaskEvent,
  type TaskManager,
  type TransitionEvent,
} from '@dtm/core';
import type pg from 'pg';
import type { Logger } from './deps.ts';

/** A slot's committed state in the index (`NameSlots.states`): no row, or the row's state. */
export const NO_ROW = 0;
export const AVAILABLE = 1;
export const COMPLETE = 2;
export const SKIP = 3;
/** Added to the state when the row has a message. */
export const HAS_MESSAGE = 4;
export const STATE_MASK = 3;

/** Messages are kept up to this length (what the grid shows). */
export const MESSAGE_LENGTH = 200;
/** The most distinct messages kept in memory; beyond, readers fetch them from the table. */
const MAX_MESSAGES = 65_535;

/** Entries left free beyond a name's last slot when a load makes room for its slots. */
const HEADROOM = 64;
/** Rows per statement of a load. */
const PAGE_ROWS = 20_000;
/** How long changes gather before they are read while nobody waits for them. */
const QUIET_BATCH_MS = 100;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

/**
 * One name's rows of a read, packed by PostgreSQL (`packedSql`): `[name, rowCount, lastSlotMs, rows,
 * messages, attempts, nextAttempts]`. Read as a JS array per row (with its strings and numbers), a load of a
 * million rows grew the heap to several times the index's size, and V8 keeps the memory it grew to; packed,
 * a page of rows is a few values per name, and what passes through memory is a fraction of the rows' size.
 *
 * `rows` is base64 of `PACKED_ROW_BYTES` per row in slot order: the slot (epoch ms, float8) and a byte of
 * the state code plus the `PACKED_*` flags. The rest is sparse, since most rows have neither: `messages`
 * has the kept messages (cut to `MESSAGE_LENGTH`) of the `PACKED_KEPT_MESSAGE` rows, `attempts` and
 * `nextAttempts` (epoch ms; 0 when due now) those of the `PACKED_RETRIED` rows; null when there is none.
 */
type PackedRows = [string, number, number, string, string[] | null, number[] | null, number[] | null];
const PACKED_ROW_BYTES = 9;
/** The row has a message that is not kept (the index only knows that there is one). */
const PACKED_OTHER_MESSAGE = 4;
const PACKED_KEPT_MESSAGE = 8;
/** The row has failed attempts or a next attempt. */
const PACKED_RETRIED = 16;

/**
 * Distinct messages, each kept once and referred to by a number from 1; 0 for one not kept (the store is
 * full). Failures and skips tend to repeat a few messages over many slots.
 */
export class MessageStore {
  readonly #ids = new Map<string, number>();
  readonly #texts: string[] = [''];

  intern(text: string): number {
    let id = this.#ids.get(text);
    if (id === undefined) {
      if (this.#texts.length > MAX_MESSAGES) return 0;
      id = this.#texts.length;
      this.#texts.push(text);
      this.#ids.set(text, id);
    }
    return id;
  }

  text(id: number): string | undefined {
    return id === 0 ? undefined : this.#texts[id];
  }
}

/**
 * The committed state of every slot of one name, one entry per slot of its interval from `baseMs` on, in
 * typed arrays (9 bytes per slot), with the counts that `/api/names` shows kept up to date.
 */
export class NameSlots {
  readonly name: string;
  readonly intervalMs: number;
  readonly originMs: number;
  readonly #messages: MessageStore;
  /** The slot of entry 0 (epoch ms). */
  #baseMs = 0;
  /** `NO_ROW` or the state, plus `HAS_MESSAGE`. */
  #states = new Uint8Array(0);
  /** Failed attempts, capped at 65,535. */
  #attempts = new Uint16Array(0);
  /** When a failed AVAILABLE slot may be tried again (epoch seconds, rounded up); 0: at once. */
  #nextAttempts = new Uint32Array(0);
  /** The message's number in the store; 0: none, or not kept. */
  #messageIds = new Uint16Array(0);
  rows = 0;
  available = 0;
  complete = 0;
  skip = 0;
  /** AVAILABLE rows with failed attempts. */
  failing = 0;
  /** The first and last slot with a row (epoch ms); NaN while there is none. */
  firstSlotMs = Number.NaN;
  lastSlotMs = Number.NaN;
  /** No entry before this one is AVAILABLE (see `firstAvailableMs`). */
  #availableFrom = 0;

  constructor(name: string, intervalMs: number, originMs: number, messages: MessageStore) {
    this.name = name;
    this.intervalMs = intervalMs;
    this.originMs = originMs;
    this.#messages = messages;
  }

  /** The entry of `slotMs`: `NO_ROW` or a state plus `HAS_MESSAGE`. */
  stateAt(slotMs: number): number {
    const i = (slotMs - this.#baseMs) / this.intervalMs;
    return i >= 0 && i < this.#states.length ? (this.#states[i] as number) : NO_ROW;
  }

  attemptsAt(slotMs: number): number {
    const i = (slotMs - this.#baseMs) / this.intervalMs;
    return i >= 0 && i < this.#attempts.length ? (this.#attempts[i] as number) : 0;
  }

  nextAttemptAt(slotMs: number): number {
    const i = (slotMs - this.#baseMs) / this.intervalMs;
    return i >= 0 && i < this.#nextAttempts.length ? (this.#nextAttempts[i] as number) * 1000 : 0;
  }

  /**
   * The message of a slot that has one (`HAS_MESSAGE`), cut to `MESSAGE_LENGTH`; undefined when it is not
   * kept: plain COMPLETE slots' messages (the grid shows them only for cells of one slot), and any once the
   * store is full. Read those from the table.
   */
  messageAt(slotMs: number): string | undefined {
    const i = (slotMs - this.#baseMs) / this.intervalMs;
    return i >= 0 && i < this.#messageIds.length
      ? this.#messages.text(this.#messageIds[i] as number)
      : undefined;
  }

  /**
   * The first AVAILABLE slot (epoch ms), NaN when there is none. It looks on from where the last call found
   * one, so a name whose first slots are done for good is not walked from its first slot every time.
   */
  firstAvailableMs(): number {
    for (let i = this.#availableFrom; i < this.#states.length; i++) {
      if (((this.#states[i] as number) & STATE_MASK) === AVAILABLE) {
        this.#availableFrom = i;
        return this.#baseMs + i * this.intervalMs;
      }
    }
    this.#availableFrom = this.#states.length;
    return Number.NaN;
  }

  /** Records a row as read from the table: its message null when it has none, '' when it is not kept. */
  set(slotMs: number, state: number, attempts: number, nextAttemptMs: number, message: string | null): void {
    const i = this.#indexFor(slotMs);
    this.#count(this.#states[i] as number, this.#attempts[i] as number, -1);
    this.#states[i] = state + (message === null ? 0 : HAS_MESSAGE);
    this.#attempts[i] = Math.min(attempts, 65_535);
    this.#nextAttempts[i] = Math.ceil(nextAttemptMs / 1000);
    this.#messageIds[i] = message ? this.#messages.intern(message) : 0;
    this.#count(state, attempts, 1);
    if (state === AVAILABLE && i < this.#availableFrom) this.#availableFrom = i;
    if (!(slotMs >= this.firstSlotMs)) this.firstSlotMs = slotMs;
    if (!(slotMs <= this.lastSlotMs)) this.lastSlotMs = slotMs;
  }

  #count(entry: number, attempts: number, sign: number): void {
    const state = entry & STATE_MASK;
    if (state === NO_ROW) return;
    this.rows += sign;
    if (state === AVAILABLE) {
      this.available += sign;
      if (attempts > 0) this.failing += sign;
    } else if (state === COMPLETE) this.complete += sign;
    else this.skip += sign;
  }

  /** The entry of `slotMs`, growing the arrays to hold it (slots are added at both ends over time). */
  #indexFor(slotMs: number): number {
    const offset = (slotMs - this.originMs) / this.intervalMs;
    if (!Number.isInteger(offset))
      throw new Error(`slot ${new Date(slotMs).toISOString()} of ${this.name} is not on its interval`);
    const length = this.#states.length;
    if (length === 0) this.#baseMs = slotMs;
    const i = (slotMs - this.#baseMs) / this.intervalMs;
    if (i >= 0 && i < length) return i;
    const before = i < 0 ? -i + (length >> 2) : 0;
    const size = Math.max(i + 1 + before, length + before, 64);
    this.#resize(before, i < 0 ? size : Math.max(size, length * 2));
    return i + before;
  }

  /**
   * Makes room for the slots from `firstMs` to `lastMs` in one step (a load knows them), so that loading
   * does not grow the arrays by doubling: that would leave dead arrays behind and up to twice the room.
   */
  reserve(firstMs: number, lastMs: number): void {
    if (this.#states.length === 0) this.#baseMs = firstMs;
    const before = Math.max(0, (this.#baseMs - firstMs) / this.intervalMs);
    const last = (lastMs - this.#baseMs) / this.intervalMs + before;
    if (!Number.isInteger(before) || !Number.isInteger(last)) return; // set() reports the odd slot
    const size = Math.max(this.#states.length + before, last + 1 + HEADROOM);
    if (before > 0 || size > this.#states.length) this.#resize(before, size);
  }

  /** Copies the entries into arrays of `size`, `before` entries further on (the ones past `size` dropped). */
  #resize(before: number, size: number): void {
    const states = new Uint8Array(size);
    states.set(this.#states.subarray(0, size - before), before);
    const attempts = new Uint16Array(size);
    attempts.set(this.#attempts.subarray(0, size - before), before);
    const nextAttempts = new Uint32Array(size);
    nextAttempts.set(this.#nextAttempts.subarray(0, size - before), before);
    const messageIds = new Uint16Array(size);
    messageIds.set(this.#messageIds.subarray(0, size - before), before);
    this.#states = states;
    this.#attempts = attempts;
    this.#nextAttempts = nextAttempts;
    this.#messageIds = messageIds;
    this.#baseMs -= before * this.intervalMs;
    this.#availableFrom = Math.min(this.#availableFrom + before, size);
  }
}

/** What a watcher of the slot index hears (see `SlotIndex.watch`); it must not throw. */
export interface IndexWatcher {
  onEvent(event: TaskEvent): void;
  onResync(): void;
}

/** What readers get: every name's slots, as of a moment after the read was asked for. */
export type SlotsByName = ReadonlyMap<string, NameSlots>;

/**
 * Every slot's committed state in memory, for the grid, the name summaries and the metrics, which would
 * otherwise read (and count) a window of the table per request: loaded once, then kept current from the
 * core's subscription, which reads the transitions recorded in the history. An event is taken as the name
 * of a row that changed, and the row is read again (in batches, one batch at a time), so the index depends
 * neither on what events carry nor on their timing: every row is as new as the last time it was read, and it
 * was read after its last change was heard. The one exception is the commonest change, a holder's ending to
 * COMPLETE (or SKIP) whose message, if any, the index would not keep: it says all the index keeps of its
 * row (see #appliesAsHeard) and is applied as heard, in commit order. A bulk event reloads its name; a resync
 * (a lost connection, or a subscription far behind) reloads everything (a change made without being
 * recorded, by hand, shows then).
 *
 * `read()` answers with everything committed before it was called: the subscription reads the history once
 * more (`Subscription.sync`), then the rows heard before it are read.
 *
 * Live holders are not in it: a held slot's committed row is AVAILABLE, and nothing is recorded when a slot
 * is taken. Readers ask the `holders` view for the few in their window.
 */
export class SlotIndex {
  readonly #tm: TaskManager;
  readonly #logger: Logger;
  readonly #schemaSql: string;
  #names = new Map<string, NameSlots>();
  #messages = new MessageStore();
  #opening: Promise<Subscription> | null = null;
  #subscription: Subscription | null = null;
  /** Others told of what the index hears (see `watch`). */
  readonly #watchers = new Set<IndexWatcher>();
  #isClosed = false;
  /** Work announced and not yet read: everything, whole names, or rows (name → slot epoch ms). */
  #needsAll = true;
  #dirtyNames = new Set<string>();
  #dirtyRows = new Map<string, Set<number>>();
  /** For `/metrics`: holder endings applied as heard, and rows read back by key after an event. */
  readonly stats = { appliedAsHeard: 0, rowsReadBack: 0 };
  /** What the batch being applied reads (see #apply), while it runs. */
  #reading: { isAll: boolean; names: Set<string>; rows: Map<string, Set<number>> } | null = null;
  /** Work items announced so far, and how many of them are applied. */
  #announced = 1;
  #applied = 0;
  #waiters: Array<{ upTo: number; resolve: () => void; reject: (error: Error) => void }> = [];
  #running: Promise<void> | null = null;
  #batchTimer: NodeJS.Timeout | undefined;
  #retryMs = RETRY_MIN_MS;

  constructor(tm: TaskManager, logger: Logger) {
    this.#tm = tm;
    this.#logger = logger;
    this.#schemaSql = `"${tm.schema}"`;
  }

  /**
   * Every name's slots with every change committed before the call applied, `names` (when given) looked up
   * if the index does not know them. The first call loads the table (about a second per million rows).
   * Throws `DatabaseError` when the database cannot be reached.
   */
  async read(names: readonly string[] | null = null): Promise<SlotsByName> {
    await this.#hearUpToNow();
    await this.#appliedUpTo(this.#announced);
    // A name registered without a slot yet is announced by nobody: look up the names asked for by name.
    const unknown = (names ?? []).filter((name) => !this.#names.has(name));
    if (unknown.length > 0) {
      for (const name of unknown) this.#dirtyNames.add(name);
      this.#announce();
      await this.#appliedUpTo(this.#announced);
    }
    return this.#names;
  }

  /**
   * Also tells `watcher` of every event committed after the call, in commit order for each slot, and of
   * every time the subscription asks for a resync (see `SubscribeOptions.onResync`), through the index's one
   * subscription, opened if need be: the event stream uses it, so the API reads the history once. Resolves
   * once subscribed, with the function that stops telling; throws `DatabaseError` when it cannot subscribe.
   */
  async watch(watcher: IndexWatcher): Promise<() => void> {
    await this.#hearUpToNow();
    this.#watchers.add(watcher);
    return () => {
      this.#watchers.delete(watcher);
    };
  }

  /** Whether the index's subscription is connected right now. */
  get isListening(): boolean {
    return this.#subscription?.isConnected ?? false;
  }

  /**
   * Subscribes (if need be) and waits until every transition committed before the call has been heard: the
   * subscription read the history after the call (`Subscription.sync`).
   */
  async #hearUpToNow(): Promise<void> {
    if (this.#isClosed) throw new DatabaseError('the slot index is closed', { cause: null });
    const subscription = await this.#open();
    try {
      await subscription.sync();
    } catch (error) {
      throw new DatabaseError(`not hearing changes: ${messageOf(error)}`, { cause: error });
    }
  }

  async #appliedUpTo(upTo: number): Promise<void> {
    if (this.#applied >= upTo) return;
    await new Promise<void>((resolve, reject) => {
      this.#waiters.push({ upTo, resolve, reject });
      this.#run();
    });
  }

  /** Stops listening; pending reads fail. */
  async close(): Promise<void> {
    this.#isClosed = true;
    clearTimeout(this.#batchTimer);
    this.#settle(new DatabaseError('the slot index is closed', { cause: null }));
    const opening = this.#opening;
    this.#opening = null;
    this.#subscription = null;
    this.#watchers.clear();
    await (await opening?.catch(() => null))?.close();
    await this.#running;
  }

  #open(): Promise<Subscription> {
    this.#opening ??= this.#tm
      .subscribe({
        onEvent: (event) => {
          this.#heard(event);
          for (const watcher of this.#watchers) watcher.onEvent(event);
        },
        onResync: () => {
          this.#logger.info(
            'slot index: told to resync (connected again, or far behind); reloading every slot',
          );
          this.#needsAll = true;
          this.#announce();
          for (const watcher of this.#watchers) watcher.onResync();
        },
        onError: (error) => this.#logger.warn(`slot index: subscription failed: ${error.message}`),
      })
      .then((subscription) => {
        this.#subscription = subscription;
        return subscription;
      })
      .catch((error: unknown) => {
        this.#opening = null;
        throw new DatabaseError(`cannot listen for changes: ${messageOf(error)}`, {
          cause: error,
          sqlState: sqlStateOf(error),
        });
      });
    return this.#opening;
  }

  #heard(event: TaskEvent): void {
    // The first of a holder's ending's two transitions: its row is the ending's, which follows.
    if (event.kind === 'transition' && event.to === 'ACQUIRED') return;
    // While a whole load is due (nobody read the index yet, or it missed changes), it reads this row too.
    if (!this.#needsAll) {
      if (event.kind === 'bulk') this.#dirtyNames.add(event.name);
      else if (this.#appliesAsHeard(event)) return;
      else {
        let slots = this.#dirtyRows.get(event.name);
        if (!slots) {
          slots = new Set();
          this.#dirtyRows.set(event.name, slots);
        }
        slots.add(event.slot.getTime());
      }
    }
    this.#announce();
  }

  /**
   * A holder's ending to COMPLETE or SKIP tells all the index keeps of its row (failed attempts as they
   * were, no next attempt) but the text of a kept message: it is applied as heard, without reading the row,
   * when it recorded no message, or when it is a plain COMPLETE (no failed attempt), whose message the index
   * does not keep. Not while a read of the row is due or on its way (a whole load too, but #heard does not
   * ask then): that read's answer may be older than the ending, and it would land after it.
   */
  #appliesAsHeard(event: TransitionEvent): boolean {
    if (event.from !== 'ACQUIRED') return false;
    if (event.to !== 'COMPLETE' && event.to !== 'SKIP') return false;
    const slots = this.#names.get(event.name);
    const slotMs = event.slot.getTime();
    if (!slots || (slots.stateAt(slotMs) & STATE_MASK) === NO_ROW) return false;
    const attempts = slots.attemptsAt(slotMs);
    if (event.hasMessage && (event.to === 'SKIP' || attempts > 0)) return false;
    if (this.#dirtyNames.has(event.name) || this.#dirtyRows.get(event.name)?.has(slotMs)) return false;
    const reading = this.#reading;
    if (
      reading &&
      (reading.isAll || reading.names.has(event.name) || reading.rows.get(event.name)?.has(slotMs))
    )
      return false;
    slots.set(slotMs, event.to === 'SKIP' ? SKIP : COMPLETE, attempts, 0, event.hasMessage ? '' : null);
    this.stats.appliedAsHeard += 1;
    return true;
  }

  #announce(): void {
    this.#announced += 1;
    if (this.#waiters.length > 0) this.#run();
    else this.#runSoon();
  }

  /**
   * Applies what was announced now if a read waits for it; else within `QUIET_BATCH_MS`, so that rows
   * changing all the time are read in batches of what changed meanwhile, not one query per event.
   */
  #runSoon(): void {
    if (this.#batchTimer || this.#running || this.#isClosed) return;
    // A whole load waits for a read: heard changes alone (the event stream listening through the index
    // before anyone read it) are no reason to load the table.
    if (this.#needsAll) return;
    this.#batchTimer = setTimeout(() => this.#run(), QUIET_BATCH_MS);
    this.#batchTimer.unref();
  }

  #run(): void {
    if (this.#running || this.#isClosed) return;
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    this.#running = this.#apply().finally(() => {
      this.#running = null;
      if (this.#applied >= this.#announced) return;
      if (this.#waiters.length > 0) this.#run();
      else this.#runSoon();
    });
  }

  /**
   * Applies what was announced, batch after batch, while reads wait for it; retries with backoff on
   * failure.
   */
  async #apply(): Promise<void> {
    while (this.#applied < this.#announced && !this.#isClosed) {
      const upTo = this.#announced;
      const needsAll = this.#needsAll;
      const names = this.#dirtyNames;
      const rows = this.#dirtyRows;
      this.#needsAll = false;
      this.#dirtyNames = new Set();
      this.#dirtyRows = new Map();
      // A name read whole below leaves `rows` but stays in `names`.
      this.#reading = { isAll: needsAll, names, rows };
      try {
        // A load reads every row as it is after every change announced before it started.
        if (needsAll) this.#names = await this.#loadAll();
        else {
          // A name the index does not know yet was created since: read it whole.
          for (const name of rows.keys()) if (!this.#names.has(name)) names.add(name);
          for (const name of names) {
            await this.#loadName(name);
            rows.delete(name);
          }
          for (const slots of rows.values()) this.stats.rowsReadBack += slots.size;
          await this.#reread(rows);
        }
        this.#reading = null;
        this.#applied = upTo;
        this.#retryMs = RETRY_MIN_MS;
        this.#settle();
        if (this.#waiters.length === 0) return;
      } catch (error) {
        // What this batch would have read is read again, with everything: simpler than merging it back.
        this.#reading = null;
        this.#needsAll = true;
        this.#settle(new DatabaseError(`reading slots: ${messageOf(error)}`, { cause: error }));
        this.#logger.warn(`slot index: cannot read slots (${messageOf(error)}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, this.#retryMs).unref());
        this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
        if (this.#waiters.length === 0) return; // the next change or read starts it again
      }
    }
  }

  /** Resolves the reads whose changes are applied; with an error, fails every pending read. */
  #settle(error?: Error): void {
    const pending = this.#waiters;
    this.#waiters = [];
    for (const waiter of pending) {
      if (error) waiter.reject(error);
      else if (waiter.upTo <= this.#applied) waiter.resolve();
      else this.#waiters.push(waiter);
    }
  }

  async #loadAll(): Promise<Map<string, NameSlots>> {
    // A fresh store, so that messages no slot has any more are dropped.
    this.#messages = new MessageStore();
    const names = await this.#readNames(null);
    const s = this.#schemaSql;
    let after: [string, Date | string] = ['', '-infinity'];
    for (;;) {
      const page = await this.#query<PackedRows>(
        packedSql(
          `SELECT ${TASK_COLUMNS} FROM ${s}.tasks
           WHERE (name, slot) > ($1, $2) ORDER BY name, slot LIMIT ${PAGE_ROWS}`,
        ),
        after,
      );
      let rows = 0;
      for (const packed of page) {
        const slots = names.get(packed[0]);
        if (slots) setPacked(slots, packed);
        rows += packed[1];
      }
      const last = page.at(-1);
      if (!last || rows < PAGE_ROWS) return names;
      after = [last[0], new Date(last[2])];
    }
  }

  async #loadName(name: string): Promise<void> {
    const loaded = (await this.#readNames(name)).get(name);
    if (!loaded) return; // not created after all (its transaction rolled back)
    const s = this.#schemaSql;
    let after: Date | string = '-infinity';
    for (;;) {
      const [packed]: PackedRows[] = await this.#query<PackedRows>(
        packedSql(
          `SELECT ${TASK_COLUMNS} FROM ${s}.tasks
           WHERE name = $1 AND slot > $2 ORDER BY slot LIMIT ${PAGE_ROWS}`,
        ),
        [name, after],
      );
      if (!packed) break;
      setPacked(loaded, packed);
      if (packed[1] < PAGE_ROWS) break;
      after = new Date(packed[2]);
    }
    this.#names.set(name, loaded);
  }

  async #reread(dirty: Map<string, Set<number>>): Promise<void> {
    const names: string[] = [];
    const slots: Date[] = [];
    for (const [name, set] of dirty) {
      for (const slot of set) {
        names.push(name);
        slots.push(new Date(slot));
      }
    }
    for (let from = 0; from < names.length; from += PAGE_ROWS) {
      const page = await this.#query<PackedRows>(
        packedSql(
          `SELECT ${TASK_COLUMNS} FROM ${this.#schemaSql}.tasks
           WHERE (name, slot) IN (SELECT * FROM unnest($1::text[], $2::timestamptz[]))`,
        ),
        [names.slice(from, from + PAGE_ROWS), slots.slice(from, from + PAGE_ROWS)],
      );
      for (const packed of page) {
        const slotsOfName = this.#names.get(packed[0]);
        if (slotsOfName) setPacked(slotsOfName, packed);
      }
    }
  }

  /**
   * The names (all, or one), each with room made for the slots it has: before any row is read, so that a
   * load allocates its long-lived arrays first, below the many short-lived buffers that reading rows takes
   * in the native heap, and not scattered among them, which kept that heap from shrinking (about 10 MB of
   * RSS).
   */
  async #readNames(name: string | null): Promise<Map<string, NameSlots>> {
    const s = this.#schemaSql;
    const rows = await this.#query<[string, string, Date, number | null, number | null]>(
      `SELECT n.name, n.interval_ms, n.origin,
              ${epochMs(`(SELECT min(t.slot) FROM ${s}.tasks t WHERE t.name = n.name)`)},
              ${epochMs(`(SELECT max(t.slot) FROM ${s}.tasks t WHERE t.name = n.name)`)}
       FROM ${s}.task_names n WHERE $1::text IS NULL OR n.name = $1`,
      [name],
    );
    const names = new Map<string, NameSlots>();
    for (const [n, interval, origin, firstMs, lastMs] of rows) {
      const slots = new NameSlots(n, Number(interval), origin.getTime(), this.#messages);
      if (firstMs !== null && lastMs !== null) slots.reserve(firstMs, lastMs);
      names.set(n, slots);
    }
    return names;
  }

  async #query<R extends unknown[]>(text: string, values: unknown[]): Promise<R[]> {
    const result = await this.#tm.pool.query<R>({ text, values, rowMode: 'array' } as pg.QueryArrayConfig);
    return result.rows;
  }
}

/** A timestamp's epoch milliseconds, in SQL (a float8, which the driver reads as a number). */
export const epochMs = (column: string) => `round(date_part('epoch', ${column}) * 1000)::float8`;
/** The columns of `tasks` that `packedSql` reads. */
const TASK_COLUMNS = 'name, slot, state, failed_attempts, next_attempt_at, message';

/**
 * The `PackedRows` of the rows of `source` (a SELECT of `TASK_COLUMNS`), one per name, by name. Committed
 * rows are AVAILABLE, COMPLETE or SKIP (ACQUIRED lives only in the holder's transaction). The message is
 * kept for the slots whose messages the grid shows in any cell: not plain COMPLETE (no failed attempt) ones,
 * which are most slots and often carry a message of their own (a count of records): for those only that
 * there is one.
 */
function packedSql(source: string): string {
  const isKept = `(t.state <> 'COMPLETE' OR t.failed_attempts > 0)`;
  const isRetried = '(t.failed_attempts <> 0 OR t.next_attempt_at IS NOT NULL)';
  const code = `CASE t.state WHEN 'AVAILABLE' THEN ${AVAILABLE} WHEN 'SKIP' THEN ${SKIP} ELSE ${COMPLETE} END
    + CASE WHEN t.message IS NULL THEN 0
           WHEN ${isKept} THEN ${PACKED_KEPT_MESSAGE} ELSE ${PACKED_OTHER_MESSAGE} END
    + CASE WHEN ${isRetried} THEN ${PACKED_RETRIED} ELSE 0 END`;
  return `SELECT t.name, count(*)::int, ${epochMs('max(t.slot)')},
     encode(
       string_agg(float8send(${epochMs('t.slot')}) || set_byte(decode('00', 'hex'), 0, ${code}), '' ORDER BY t.slot),
       'base64'),
     array_agg(left(t.message, ${MESSAGE_LENGTH}) ORDER BY t.slot)
       FILTER (WHERE t.message IS NOT NULL AND ${isKept}),
     array_agg(t.failed_attempts ORDER BY t.slot) FILTER (WHERE ${isRetried}),
     array_agg(coalesce(${epochMs('t.next_attempt_at')}, 0) ORDER BY t.slot) FILTER (WHERE ${isRetried})
   FROM (${source}) t GROUP BY t.name ORDER BY t.name`;
}

function setPacked(slots: NameSlots, [name, , , base64, messages, attempts, nextAttempts]: PackedRows): void {
  const rows = Buffer.from(base64, 'base64');
  let kept = 0;
  let retried = 0;
  for (let at = 0; at < rows.length; at += PACKED_ROW_BYTES) {
    const code = rows[at + 8] as number;
    const message = code & PACKED_KEPT_MESSAGE ? messages?.[kept++] : code & PACKED_OTHER_MESSAGE ? '' : null;
    let attemptsOfRow: number | undefined = 0;
    let nextAttemptMs: number | undefined = 0;
    if (code & PACKED_RETRIED) {
      attemptsOfRow = attempts?.[retried];
      nextAttemptMs = nextAttempts?.[retried];
      retried += 1;
    }
    if (message === undefined || attemptsOfRow === undefined || nextAttemptMs === undefined)
      throw new Error(`the packed rows of ${name} lack a message or an attempt`);
    slots.set(rows.readDoubleBE(at), code & STATE_MASK, attemptsOfRow, nextAttemptMs, message);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
