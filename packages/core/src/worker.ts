import { setMaxListeners } from 'node:events';
import type { AcquiredTask, RetryPolicy } from './acquired-task.ts';
import { Backoff } from './backoff.ts';
import type { Batch, BatchLane, HandlerResult } from './batch-lane.ts';
import { BadInputError } from './errors.ts';
import { type ListeningConnection, listen } from './events.ts';
import type { Lane, NextSlot, NextTake } from './lane.ts';
import { attemptsText, type Cadence, firstSlotFrom, fixedCadence } from './model.ts';
import { toSchema } from './schema.ts';
import type { TaskManager } from './task-manager.ts';
import { messageOf } from './text.ts';
import { type Interval, parseInterval } from './time.ts';
import { traceAttempts } from './tracing.ts';
import type { Task } from './types.ts';

/**
 * @internal What a worker gets from its manager (built by `tm.work()`): the manager's public API, and the
 * lanes and reads of the core that a worker needs; the worker itself sends no SQL.
 */
export interface WorkerContext {
  manager: TaskManager;
  workerName: string;
  retry: RetryPolicy;
  openLane(): Lane;
  /** A lane that takes up to `size` slots at a time and commits them together (see batch-lane.ts). */
  openBatchLane(size: number): BatchLane;
  /** acquireNext()'s options, checked (BadInputError). */
  nextTake(options: Parameters<TaskManager['acquireNext']>[0]): NextTake;
  /** How long until the soonest failed slot of the name in [from, to) is due again, in ms (see lane.ts). */
  nextDueIn(name: string, from: Date, to: Date): Promise<number | null>;
  /** By when the server has freed the lock of a holder whose connection went silent. */
  serverReleaseMs: number;
}

/** Where the worker's structured logs go; a pino or bunyan logger fits as it is (`fields` first). */
export interface WorkerLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Options of `tm.work()`. */
export interface WorkerOptions {
  /** The task name whose slots this worker processes. */
  name: string;
  /** The name's interval (`PT5M`, `P1D`, or ms); fixed by the name's first slot. */
  interval: Interval;
  /** How far back from the current slot AVAILABLE slots are still taken (0 for the current slot only). */
  backlog: Interval;
  /** The current slot is the one containing `now - lag`, so a slot is worked on once its data is in. Default 0. */
  lag?: Interval;
  /** Slots are aligned to this instant. Default the Unix epoch. */
  origin?: Date | string;
  /** Slots processed at once, each holding one pool connection. Default 1. */
  concurrency?: number;
  /**
   * Slots each lane takes at once, in one transaction, and commits together (default 1: every slot commits
   * on its own). With k > 1 a lane locks up to k due slots in one statement, runs their handlers one after the
   * other (each with its own savepoint when it uses `task.client`, so a failed slot's writes go and its
   * batch-mates' stay), then ends them all and commits in one round trip. Exactly once still holds: effects
   * and endings commit together, and a crash rolls both back (each slot of the batch then counts an abandoned
   * attempt). What changes: a slot's ending (and what its work wrote) is visible only when its batch commits;
   * `task.complete()`, `skip()`, `fail()` and `release()` decide the ending and return at once; each lane
   * holds k row locks for as long as its batch runs; and a slow handler delays its batch-mates. Between 1 and
   * 1000.
   */
  commitBatch?: number;
  /**
   * The work of one slot. Write its results through `task.client` (they commit with COMPLETE) and stop when
   * `task.signal` fires. Return: the slot is completed (a returned string becomes its message). Throw: it is
   * failed with the error's message and retried after a backoff. It may also end the slot itself
   * (`task.skip()`, `task.fail()`, `task.complete()`).
   */
  handler: (task: AcquiredTask) => Promise<unknown>;
  /** How often to look for due slots when no notification came, in ms. Default 5000. */
  pollInterval?: number;
  /**
   * Which slots the worker creates: `current`, the current slot as each one begins; `backlog`, also every
   * missing slot of the backlog window (at start, then each new one). Default `current`.
   */
  keepCreated?: 'current' | 'backlog';
  /** On `stop()`, how long running handlers may take to finish before they are aborted, in ms. Default 10000. */
  shutdownGraceMs?: number;
  /**
   * Stop gracefully on SIGTERM and SIGINT (a second signal aborts at once), then, unless something else
   * listens to that signal, raise it again so the process ends as it would have. Default false.
   */
  handleSignals?: boolean;
  /** Backoff between attempts of a failing slot. Default the manager's `retry`. */
  retry?: RetryPolicy;
  /**
   * Sets the name's `maxAttempts` (see `tm.setMaxAttempts`): after that many failed or abandoned attempts a
   * slot is no longer retried until re-queued. Null: retry forever. Default: leave the name's setting as it is
   * (retry forever unless set).
   */
  maxAttempts?: number | null;
  /** Structured logs. Default: warnings and errors to the console, nothing below. */
  logger?: WorkerLogger;
  /** Recorded as actor and holder. Default the manager's `workerName`. */
  workerName?: string;
}

/** What a worker reports; subscribe with `worker.on(event, listener)`. */
export interface WorkerEvents {
  /** A slot was acquired and its handler is about to start. */
  acquired: { task: Task };
  /** The slot is COMPLETE and the handler's writes are committed; `task` as recorded (its message included). */
  completed: { task: Task; durationMs: number };
  /** The slot is SKIP (the handler called `task.skip()`); `task` as recorded. */
  skipped: { task: Task; durationMs: number };
  /**
   * The slot is AVAILABLE again with one more failed attempt, retried after its backoff (`task.nextAttemptAt`)
   * or given up (`task.hasGivenUp`); `task` as recorded, `message` as the error's.
   */
  failed: { task: Task; durationMs: number; error: unknown; message: string };
  /**
   * The lock was lost (connection lost or presumed dead, backend terminated, transaction timed out, or aborted
   * by `stop()`: `isShutdown`). Nothing the handler wrote was committed; the slot is AVAILABLE again, and the
   * attempt counts as abandoned (a failed attempt, with backoff), unless `isShutdown`.
   */
  lockLost: { task: Task; durationMs: number; error: Error; isShutdown: boolean };
  /** The handler gave the slot back unchanged (`task.release()`): its attempt is not counted. */
  released: { task: Task; durationMs: number };
  /** Something failed around the handlers (database unreachable, pool exhausted); the worker keeps trying. */
  error: { error: Error; doing: string };
}

type Listener<E extends keyof WorkerEvents> = (payload: WorkerEvents[E]) => void;

type AcquireOptions = NextTake & { from: Date; to: Date };

const DEFAULT_POLL_MS = 5_000;
const DEFAULT_GRACE_MS = 10_000;
/**
 * How long an idle lane keeps its connection before it gives it back to the pool. Under a steady trickle of due
 * slots a lane is woken again within milliseconds, and giving the connection back and taking one again cost
 * more than the slot (bench/results/steady.md).
 */
const IDLE_LINGER_MS = 1_000;
/** createTasks takes at most this many slots per call. */
const CREATE_CHUNK = 10_000;

/**
 * A running worker (built by `tm.work()`): `concurrency` lanes that each acquire the oldest due slot
 * (`SKIP LOCKED`), run the handler, and end the slot; idle lanes wait for a notification, the poll timer or a
 * failed slot's next-attempt time. Database trouble is logged and retried, never thrown: the worker runs until
 * `stop()`.
 */
export class Worker {
  /** The task name. */
  readonly name: string;
  readonly #context: WorkerContext;
  readonly #tm: TaskManager;
  readonly #maxAttempts: number | null | undefined;
  readonly #handler: (task: AcquiredTask) => Promise<unknown>;
  /** How the name's slots are numbered: the one place the worker does slot arithmetic. */
  readonly #cadence: Cadence;
  readonly #backlogMs: number;
  readonly #lagMs: number;
  readonly #concurrency: number;
  readonly #commitBatch: number;
  readonly #pollMs: number;
  readonly #graceMs: number;
  readonly #keepsBacklog: boolean;
  readonly #retry: RetryPolicy | undefined;
  readonly #log: WorkerLogger;
  readonly #workerName: string;
  readonly #listeners = new Map<keyof WorkerEvents, Set<(payload: never) => void>>();

  readonly #lanes: Promise<void>[] = [];
  /**
   * Slots whose handler is still running, so that a stop past its grace period can abort them, each with
   * what ends the wait for its handler then.
   */
  readonly #running = new Map<AcquiredTask, () => void>();
  /** Idle lanes, each waiting to be woken. */
  #idle: Array<() => void> = [];
  /** A wake arrived while no lane was idle: the next lane to go idle looks again first. */
  #hasMissedWake = false;
  /**
   * Lanes that found nothing to take and wait (or are about to). While there are none, notifications are of
   * no use (every lane takes the next slot as soon as it is done) and the listener is paused: a listening
   * session is woken by the server for every notification committed in the database.
   */
  #idleLanes = 0;
  /** Aborted by `stop()`: ends the backoff waits of the lanes and of the listener. */
  readonly #stopping = new AbortController();
  #isStopping = false;
  #stopped: Promise<void> | null = null;
  #subscription: ListeningConnection | null = null;
  #pollTimer: NodeJS.Timeout | undefined;
  #boundaryTimer: NodeJS.Timeout | undefined;
  #dueTimer: NodeJS.Timeout | undefined;
  #dueAt = Number.POSITIVE_INFINITY;
  /** The look for the next due slot under way (see #checkNextDue), awaited by stop(). */
  #checkingDue: Promise<void> | null = null;
  /** Every slot numbered below this one (within the window) has been created. */
  #createdUpTo = Number.NEGATIVE_INFINITY;
  #creating: Promise<void> | null = null;
  #isDegraded = false;
  /** The lanes' acquire options, and the number of the current slot they were made for (see #acquireOptions). */
  #options: { current: number; value: AcquireOptions } | null = null;
  readonly #onSignal = (signal: NodeJS.Signals) => this.#handleSignal(signal);

  /** @internal Built by `tm.work()`. */
  constructor(context: WorkerContext, options: WorkerOptions) {
    if (typeof options !== 'object' || options === null)
      throw new BadInputError('worker options are required');
    if (typeof options.name !== 'string' || options.name.length === 0)
      throw new BadInputError('worker name must be a non-empty string');
    if (typeof options.handler !== 'function') throw new BadInputError('worker handler must be a function');
    this.#context = context;
    this.#tm = context.manager;
    this.#maxAttempts = options.maxAttempts;
    this.name = options.name;
    this.#handler = options.handler;
    this.#backlogMs = toDuration(options.backlog, 'backlog');
    this.#lagMs = options.lag === undefined ? 0 : toDuration(options.lag, 'lag');
    const origin = options.origin === undefined ? new Date(0) : new Date(options.origin);
    if (Number.isNaN(origin.getTime())) throw new BadInputError('origin must be a valid date');
    this.#cadence = fixedCadence(parseInterval(options.interval), origin.getTime());
    this.#concurrency = checkWhole(options.concurrency ?? 1, 'concurrency', 1, 1_000);
    this.#commitBatch = checkWhole(options.commitBatch ?? 1, 'commitBatch', 1, 1_000);
    this.#pollMs = checkWhole(options.pollInterval ?? DEFAULT_POLL_MS, 'pollInterval', 10, 86_400_000);
    this.#graceMs = checkWhole(options.shutdownGraceMs ?? DEFAULT_GRACE_MS, 'shutdownGraceMs', 0, 86_400_000);
    const keepCreated = options.keepCreated ?? 'current';
    if (keepCreated !== 'current' && keepCreated !== 'backlog')
      throw new BadInputError(`keepCreated must be 'current' or 'backlog'`);
    this.#keepsBacklog = keepCreated === 'backlog';
    this.#retry = options.retry;
    this.#log = options.logger ?? consoleLogger;
    this.#workerName = options.workerName ?? context.workerName;
    // Checked now (BadInputError), not at the first slot.
    context.nextTake({ name: this.name, worker: this.#workerName });
    traceAttempts(this);
    this.#start(options.handleSignals ?? false);
  }

  /**
   * Whether the worker hears notifications right now. It does while a lane waits for work; while every lane
   * is busy it does not need to, and while the listening connection is down it relies on polling.
   */
  get isListening(): boolean {
    return this.#subscription?.isListening ?? false;
  }

  /** Recorded as actor and holder of the slots this worker takes. */
  get workerName(): string {
    return this.#workerName;
  }

  /** How many slots this worker holds right now. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Adds a listener; one that throws is logged and does not disturb the worker. */
  on<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): this {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return this;
  }

  /** Removes a listener added with `on`. */
  off<E extends keyof WorkerEvents>(event: E, listener: Listener<E>): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  /**
   * Stops taking slots, lets running handlers finish for `shutdownGraceMs`, then aborts the rest through
   * their `signal` (their slots go back to AVAILABLE, unchanged), and closes the listening connection.
   * Resolves when no slot is held any more; a handler that ignores its signal is no longer waited for.
   * Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  #start(handlesSignals: boolean): void {
    const fields = this.#fields();
    this.#log.info({ ...fields, concurrency: this.#concurrency }, 'worker starting');
    const poolMax = this.#tm.pool.options.max;
    if (typeof poolMax === 'number' && poolMax < this.#concurrency + 1) {
      this.#log.warn(
        { ...fields, poolMax, concurrency: this.#concurrency },
        'the pool has fewer connections than concurrency + 1: lanes will wait for connections',
      );
    }
    // Each lane and the listener wait on it while the database is unreachable.
    setMaxListeners(this.#concurrency + 1, this.#stopping.signal);
    if (handlesSignals) {
      process.on('SIGTERM', this.#onSignal);
      process.on('SIGINT', this.#onSignal);
    }
    // The only ref'd timer: a running worker keeps its process alive, as a server would.
    this.#pollTimer = setInterval(() => {
      void this.#ensureCreated();
      this.#wakeOne();
    }, this.#pollMs);
    void this.#listen();
    void this.#ensureCreated();
    for (let i = 0; i < this.#concurrency; i++) {
      this.#lanes.push(this.#commitBatch > 1 ? this.#runBatchLane() : this.#runLane());
    }
  }

  async #runLane(): Promise<void> {
    // The lane owns its connection for as long as it runs: it takes slots on it, and ends each.
    const lane = this.#context.openLane();
    const backoff = new Backoff({ signal: this.#stopping.signal });
    /** The lane's next slot, looked for in the round trip that completed its previous one. */
    let chained: NextSlot | undefined;
    try {
      while (!this.#isStopping) {
        let task: AcquiredTask | null;
        const options = this.#acquireOptions();
        const { from, to } = options;
        try {
          if (chained) {
            const found = chained;
            chained = undefined;
            if ('error' in found) throw found.error;
            task = found.next;
          } else {
            this.#hasMissedWake = false;
            task = await lane.take(options);
          }
        } catch (error) {
          this.#report(error, 'acquiring a slot');
          await backoff.wait();
          continue;
        }
        if (backoff.failures > 0 || this.#isDegraded) this.#recovered();
        backoff.reset();
        if (!task) {
          await this.#waitIdle(lane, from, to);
          continue;
        }
        if (this.#isStopping) {
          await task.release();
          break;
        }
        if (this.#idleLanes === 0) this.#subscription?.pause();
        // There may be more: let another idle lane look too.
        this.#wakeOne();
        chained = await this.#process(task, lane);
      }
      // Stopping: a slot the last round trip took is given back unchanged.
      if (chained && 'next' in chained) await chained.next?.release();
    } finally {
      await lane.close();
    }
  }

  /** A lane in batch mode (`commitBatch` > 1): as #runLane, a batch at a time. */
  async #runBatchLane(): Promise<void> {
    const lane = this.#context.openBatchLane(this.#commitBatch);
    const backoff = new Backoff({ signal: this.#stopping.signal });
    /** The lane's next batch, taken in the round trip that ended its previous one. */
    let chained: { next: Batch | null } | { error: unknown } | undefined;
    try {
      while (!this.#isStopping) {
        let found: Batch | null;
        const options = this.#acquireOptions();
        try {
          if (chained) {
            const taken = chained;
            chained = undefined;
            if ('error' in taken) throw taken.error;
            found = taken.next;
          } else {
            this.#hasMissedWake = false;
            found = await lane.take(options);
          }
        } catch (error) {
          this.#report(error, 'acquiring slots');
          await backoff.wait();
          continue;
        }
        if (backoff.failures > 0 || this.#isDegraded) this.#recovered();
        backoff.reset();
        if (!found) {
          await this.#waitIdle(lane, options.from, options.to);
          continue;
        }
        if (this.#isStopping) {
          chained = { next: found };
          break;
        }
        if (this.#idleLanes === 0) this.#subscription?.pause();
        this.#wakeOne();
        chained = await this.#processBatch(found);
      }
      // Stopping: a batch the last round trip took is given back unchanged.
      if (chained && 'next' in chained && chained.next) await this.#giveBack(chained.next);
    } finally {
      await lane.close();
    }
  }

  /**
   * An idle lane waits to be woken, keeping its connection (outside any transaction) for IDLE_LINGER_MS; after
   * that it gives the connection back to the pool and takes one again when woken.
   */
  async #waitIdle(lane: { close(): Promise<void> }, from: Date, to: Date): Promise<void> {
    void this.#checkNextDue(from, to);
    this.#idleLanes += 1;
    try {
      // Notifications were paused: what was announced meanwhile was not heard, so look once more.
      if (await this.#listenAgain()) return;
      if (this.#hasMissedWake || (await this.#waitForWork(IDLE_LINGER_MS))) return;
      await lane.close();
      if (!this.#hasMissedWake) await this.#waitForWork(Number.POSITIVE_INFINITY);
    } finally {
      this.#idleLanes -= 1;
    }
  }

  /** Runs a batch's handlers one after the other, then ends the batch (taking the next one, unless stopping). */
  async #processBatch(batch: Batch): Promise<{ next: Batch | null } | { error: unknown } | undefined> {
    const runs: Array<{ started: number; result: HandlerResult | undefined }> = [];
    for (const [index, task] of batch.tasks.entries()) {
      const run = { started: Date.now(), result: undefined as HandlerResult | undefined };
      runs.push(run);
      if (!batch.isHeld) break;
      if (this.#isStopping) {
        await task.release();
        continue;
      }
      this.#emit('acquired', { task: task.task });
      run.result = await this.#runHandler(task);
      await batch.settle(index, run.result);
    }
    let next: { next: Batch | null } | { error: unknown } | undefined;
    let failure: unknown;
    if (batch.isHeld) {
      this.#hasMissedWake = false;
      try {
        next = await batch.end(this.#isStopping);
      } catch (error) {
        failure = error;
        this.#emit('error', { error: toError(error), doing: 'ending a batch' });
      }
    }
    for (const [index, task] of batch.tasks.entries()) {
      const run = runs[index];
      if (!run?.result) continue;
      const error =
        run.result !== 'forced' && !run.result.isOk ? run.result.error : (task.ended?.message ?? failure);
      this.#reportEnding(task, run.started, error, run.result === 'forced');
    }
    return next;
  }

  /** Gives back a batch whose handlers never ran: released unchanged (its locks commit). */
  async #giveBack(batch: Batch): Promise<void> {
    for (const task of batch.tasks) await task.release();
    await batch.end(true).catch((error: unknown) => this.#report(error, 'giving back slots'));
  }

  /**
   * What the lane takes: the oldest due slot of the window, made again when the current slot changes (a
   * lane builds its statements once for as long as what it takes stays the same).
   */
  #acquireOptions(): AcquireOptions {
    const current = this.#currentSlot();
    if (this.#options?.current !== current) {
      const from = new Date(this.#cadence.slotStart(current) - this.#backlogMs);
      const to = new Date(this.#cadence.slotStart(current + 1));
      this.#options = {
        current,
        value: {
          ...this.#context.nextTake({
            name: this.name,
            from,
            to,
            order: 'oldest',
            worker: this.#workerName,
            ...(this.#retry ? { retry: this.#retry } : {}),
          }),
          from,
          to,
        },
      };
    }
    return this.#options.value;
  }

  /**
   * Runs the handler and ends the slot. A slot that completes while the worker runs on is completed in the
   * round trip that also takes the lane's next slot: what that found is returned.
   */
  async #process(task: AcquiredTask, lane: Lane): Promise<NextSlot | undefined> {
    const started = Date.now();
    const fields = { worker: this.#workerName, task: this.name, slot: task.task.slot.toISOString() };
    this.#emit('acquired', { task: task.task });
    const result = await this.#runHandler(task);
    let failure: unknown;
    let next: NextSlot | undefined;
    try {
      if (result === 'forced') {
        // stop() aborted it already; the handler may still be running but cannot commit anything.
      } else if (result.isOk) {
        const message = typeof result.value === 'string' ? result.value : undefined;
        try {
          if (!task.isHeld) {
            // The handler ended the slot itself.
          } else if (this.#isStopping) {
            await task.complete(message);
          } else {
            this.#hasMissedWake = false;
            next = await lane.completeAndTake(message, this.#acquireOptions());
          }
        } catch (error) {
          // The work's SQL may have left the transaction aborted: record the failure instead of losing it.
          failure = error;
          if (task.isHeld) await task.fail(messageOf(error));
        }
      } else {
        failure = result.error;
        if (task.isHeld) await task.fail(messageOf(result.error));
      }
    } catch (error) {
      // Recording the ending itself failed: the transaction was rolled back and the lock is gone (the attempt
      // counts as abandoned); nothing is retried here.
      const err = toError(error);
      this.#log.warn(
        { ...fields, error: err.message },
        'could not record the end of a slot: it is AVAILABLE again, and this attempt counts as abandoned (retried after backoff)',
      );
      this.#emit('error', { error: err, doing: `ending slot ${fields.slot}` });
      task.abort(err);
    }
    if (task.isHeld) task.abort(new Error('the handler returned without ending its slot'));
    this.#reportEnding(task, started, failure, result === 'forced');
    return next;
  }

  /**
   * Runs the handler; settled by it, or by stop() forcing it (a promise per slot: one that lived as long as
   * the worker, raced against every handler, would keep a reaction per slot, never freed).
   */
  async #runHandler(task: AcquiredTask): Promise<HandlerResult> {
    this.#log.debug(this.#slotFields(task), 'slot acquired');
    const result = await new Promise<HandlerResult>((resolve) => {
      this.#running.set(task, () => resolve('forced'));
      (async () => this.#handler(task))().then(
        (value) => resolve({ isOk: true, value }),
        (error: unknown) => resolve({ isOk: false, error }),
      );
    });
    this.#running.delete(task);
    return result;
  }

  #slotFields(task: AcquiredTask): Record<string, unknown> {
    return { worker: this.#workerName, task: this.name, slot: task.task.slot.toISOString() };
  }

  /** Logs and emits how a slot ended. */
  #reportEnding(task: AcquiredTask, started: number, failure: unknown, isForced: boolean): void {
    const fields = this.#slotFields(task);
    const durationMs = Date.now() - started;
    const ended = task.ended ?? task.task;
    switch (task.outcome) {
      case 'complete':
        this.#log.debug({ ...fields, durationMs }, 'slot completed');
        this.#emit('completed', { task: ended, durationMs });
        break;
      case 'skip':
        this.#log.debug({ ...fields, durationMs }, 'slot skipped');
        this.#emit('skipped', { task: ended, durationMs });
        break;
      case 'fail': {
        const message = messageOf(failure);
        const retry = ended.hasGivenUp
          ? `gave up after ${attemptsText(ended.failedAttempts)}: not retried until re-queued`
          : 'to be retried';
        this.#log.info(
          {
            ...fields,
            durationMs,
            message,
            failedAttempts: ended.failedAttempts,
            nextAttemptAt: ended.nextAttemptAt,
          },
          `slot failed, ${retry}`,
        );
        this.#emit('failed', { task: ended, durationMs, error: failure, message });
        break;
      }
      case 'lost': {
        const error = toError(task.signal.reason);
        const isShutdown = isForced || this.#isStopping;
        this.#log.warn(
          { ...fields, durationMs, error: error.message, isShutdown },
          isShutdown
            ? `gave up the lock on slot ${fields.slot} (stopping): nothing its handler wrote was committed; it is AVAILABLE again, and this attempt counts as abandoned`
            : `lost the lock on slot ${fields.slot}: nothing its handler wrote was committed; it is AVAILABLE again, and this attempt counts as abandoned (retried after backoff)`,
        );
        // The server frees the lock once it notices (at the latest after serverReleaseMs); a lane then takes
        // the slot and counts the attempt, without waiting for the next poll.
        if (!isShutdown) {
          const recount = setTimeout(() => this.#wakeOne(), this.#context.serverReleaseMs);
          recount.unref();
        }
        this.#emit('lockLost', {
          task: { ...task.task, state: 'AVAILABLE', holder: null },
          durationMs,
          error,
          isShutdown,
        });
        break;
      }
      default:
        this.#log.debug({ ...fields, durationMs }, 'slot released unchanged');
        this.#emit('released', { task: task.task, durationMs });
    }
  }

  /** Keeps the current slot (and in `backlog` mode the window) created; catches up after failures. */
  #ensureCreated(): Promise<void> {
    this.#creating ??= this.#createSlots().finally(() => {
      this.#creating = null;
    });
    return this.#creating;
  }

  async #createSlots(): Promise<void> {
    if (this.#isStopping) return;
    const cadence = this.#cadence;
    const current = this.#currentSlot();
    const end = current + 1;
    const windowStart = this.#keepsBacklog
      ? firstSlotFrom(cadence, cadence.slotStart(current) - this.#backlogMs)
      : current;
    const first = Math.max(windowStart, this.#createdUpTo);
    try {
      for (let n = first; n < end; n += CREATE_CHUNK) {
        const chunkEnd = Math.min(end, n + CREATE_CHUNK);
        await this.#tm.createTasks({
          name: this.name,
          from: new Date(cadence.slotStart(n)),
          to: new Date(cadence.slotStart(chunkEnd)),
          interval: cadence.intervalMs,
          origin: new Date(cadence.originMs),
          createdBy: this.#workerName,
          ...(this.#maxAttempts === undefined ? {} : { maxAttempts: this.#maxAttempts }),
        });
        this.#createdUpTo = chunkEnd;
      }
    } catch (error) {
      this.#report(error, 'creating slots');
      return;
    }
    clearTimeout(this.#boundaryTimer);
    if (this.#isStopping) return;
    // Wake when the next slot begins (the slot containing now - lag changes).
    const nextStart = cadence.slotStart(end) + this.#lagMs - Date.now();
    this.#boundaryTimer = setTimeout(() => void this.#ensureCreated(), Math.max(0, nextStart) + 5);
    this.#boundaryTimer.unref();
  }

  /** After finding nothing: sets a timer for the soonest failed slot whose backoff ends within the window. */
  #checkNextDue(from: Date, to: Date): Promise<void> {
    if (this.#checkingDue || this.#isStopping) return this.#checkingDue ?? Promise.resolve();
    this.#checkingDue = this.#lookForNextDue(from, to).finally(() => {
      this.#checkingDue = null;
    });
    return this.#checkingDue;
  }

  async #lookForNextDue(from: Date, to: Date): Promise<void> {
    try {
      const soonest = await this.#context.nextDueIn(this.name, from, to);
      if (soonest === null || this.#isStopping) return;
      const at = Date.now() + soonest;
      if (at >= this.#dueAt && this.#dueAt > Date.now()) return;
      clearTimeout(this.#dueTimer);
      this.#dueAt = at;
      this.#dueTimer = setTimeout(() => {
        this.#dueAt = Number.POSITIVE_INFINITY;
        this.#wakeOne();
      }, soonest + 1);
      this.#dueTimer.unref();
    } catch (error) {
      this.#report(error, 'looking for the next due slot');
    }
  }

  /**
   * Listens for the names of slots that became AVAILABLE, retrying until it works (polling covers the
   * meantime).
   */
  async #listen(): Promise<void> {
    const backoff = new Backoff({ signal: this.#stopping.signal });
    const subscription = await backoff.retry(
      () =>
        listen(this.#tm.pool.options, toSchema(this.#tm.schema).workChannel, {
          onPayload: (name) => {
            if (name === this.name) this.#wakeOne();
          },
          onReconnect: () => {
            this.#log.info(this.#fields(), 'listening again');
            this.#wakeOne();
          },
          onError: (error) => this.#report(error, 'listening for notifications'),
        }),
      (error) => this.#report(error, 'listening for notifications'),
    );
    if (!subscription) return;
    if (this.#isStopping) {
      await subscription.close();
      return;
    }
    this.#subscription = subscription;
    if (this.#idleLanes === 0) subscription.pause(); // every lane is busy: see #idleLanes
    // Whatever happened before we listened: look once.
    this.#wakeOne();
  }

  /** Resumes the paused listener; true if it was paused (and is listening now). */
  async #listenAgain(): Promise<boolean> {
    const listener = this.#subscription;
    if (!listener?.isPaused) return false;
    return listener.resume();
  }

  #wakeOne(): void {
    const wake = this.#idle.shift();
    if (wake) wake();
    else this.#hasMissedWake = true;
  }

  /** Waits to be woken (true), or for `ms` (false: nobody woke it meanwhile). */
  #waitForWork(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.#isStopping) {
        resolve(true);
        return;
      }
      const timer = Number.isFinite(ms)
        ? setTimeout(() => {
            const waiting = this.#idle.indexOf(wake);
            if (waiting >= 0) this.#idle.splice(waiting, 1);
            resolve(false);
          }, ms)
        : undefined;
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#idle.push(wake);
    });
  }

  async #shutdown(): Promise<void> {
    this.#isStopping = true;
    this.#log.info({ ...this.#fields(), running: this.#running.size }, 'worker stopping');
    clearInterval(this.#pollTimer);
    clearTimeout(this.#boundaryTimer);
    clearTimeout(this.#dueTimer);
    for (const wake of this.#idle.splice(0)) wake();
    this.#stopping.abort();
    const lanes = Promise.all(this.#lanes);
    let graceTimer: NodeJS.Timeout | undefined;
    const isGraceful = await Promise.race([
      lanes.then(() => true),
      new Promise<false>((resolve) => {
        graceTimer = setTimeout(() => resolve(false), this.#graceMs);
      }),
    ]);
    clearTimeout(graceTimer);
    if (!isGraceful) this.#abortRunning(`the shutdown grace period of ${this.#graceMs} ms is over`);
    await lanes;
    await this.#creating;
    await this.#checkingDue;
    await this.#subscription?.close();
    this.#subscription = null;
    process.off('SIGTERM', this.#onSignal);
    process.off('SIGINT', this.#onSignal);
    this.#log.info(this.#fields(), 'worker stopped');
  }

  #abortRunning(why: string): void {
    for (const [task, force] of this.#running) {
      task.abort(new Error(`worker stopping: ${why}`));
      force();
    }
  }

  #handleSignal(signal: NodeJS.Signals): void {
    if (this.#stopped) {
      this.#log.warn({ ...this.#fields(), signal }, 'second signal: aborting running slots');
      this.#abortRunning(`second ${signal}`);
      return;
    }
    this.#log.info({ ...this.#fields(), signal }, 'signal received: stopping');
    void this.stop().then(() => {
      // Nobody else handles it: end the process the way the signal would have.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }

  #report(error: unknown, doing: string): void {
    const err = toError(error);
    const fields = { ...this.#fields(), doing, error: err.message };
    if (this.#isDegraded) this.#log.debug(fields, 'still failing, retrying');
    else this.#log.warn(fields, 'database operation failed, retrying with backoff');
    this.#isDegraded = true;
    this.#emit('error', { error: err, doing });
  }

  #recovered(): void {
    if (!this.#isDegraded) return;
    this.#isDegraded = false;
    this.#log.info(this.#fields(), 'database reachable again, resuming');
    void this.#ensureCreated();
  }

  #emit<E extends keyof WorkerEvents>(event: E, payload: WorkerEvents[E]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as Listener<E>)(payload);
      } catch (error) {
        this.#log.error({ ...this.#fields(), event, error: toError(error).message }, 'event listener threw');
      }
    }
  }

  #fields(): Record<string, unknown> {
    return { worker: this.#workerName, task: this.name };
  }

  /** The number of the slot that contains `now - lag`. */
  #currentSlot(): number {
    return this.#cadence.slotNumber(Date.now() - this.#lagMs);
  }
}

/** Warnings and errors to the console, one line each; nothing below. */
const consoleLogger: WorkerLogger = {
  debug() {},
  info() {},
  warn(fields, message) {
    console.warn(`[dtm] ${message} ${JSON.stringify(fields)}`);
  },
  error(fields, message) {
    console.error(`[dtm] ${message} ${JSON.stringify(fields)}`);
  },
};

function toDuration(value: Interval, what: string): number {
  if (value === 0 || value === 'PT0S') return 0;
  try {
    return parseInterval(value);
  } catch {
    throw new BadInputError(
      `${what} must be an ISO-8601 duration (PT1H, P1D), milliseconds, or 0, got ${JSON.stringify(value)}`,
    );
  }
}

function checkWhole(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new BadInputError(`${what} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  return value;
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
