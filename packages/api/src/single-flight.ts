/** What a {@link VersionedSingleFlight} has done, for `/metrics`. */
export interface SingleFlightStats {
  /** Computations started. */
  computations: number;
  /** Requests answered by a computation that another request had started or was waiting for. */
  shared: number;
}

interface Flight<T> {
  /** The version when the computation started. */
  version: number;
  startedAt: number;
  promise: Promise<T>;
  isSettled: boolean;
  isFailed: boolean;
}

interface KeyState<T> {
  current: Flight<T> | null;
  /**
   * The computation that starts `gatherMs` after `current` settles; everyone who joins it arrived before it
   * started.
   */
  next: { promise: Promise<T>; start: () => void } | null;
}

/**
 * Single flight under constant change. Requests for the same key share one computation, and a request
 * never gets a result computed before a change it may have been told of:
 *
 * - `version()` counts the changes announced so far (the event hub's count). A request may join the
 *   running computation only when the version has not moved since that computation started, so nothing
 *   was announced in between; within `reuseMs` of the start it may also reuse the finished result.
 * - Otherwise it waits for the next computation of that key, which starts `gatherMs` after the running one
 *   settles: every request that waits for it arrived before it started. The pause gathers the requests of
 *   the clients that the settled computation just answered, so that under constant change they share the
 *   next computation with those that waited for it, instead of waiting for the one after. At most one
 *   computation per key runs, and one waits, however many requests come and however often the version moves.
 */
export class VersionedSingleFlight<T> {
  readonly #keys = new Map<string, KeyState<T>>();
  readonly #version: () => number;
  readonly #reuseMs: () => number;
  readonly #maxKeys: number;
  readonly #gatherMs: number;
  readonly #now: () => number;
  readonly stats: SingleFlightStats = { computations: 0, shared: 0 };

  constructor(options: {
    version: () => number;
    /** How long a finished result may be served again at the same version, from its start; 0: never. */
    reuseMs: () => number;
    /** Keys remembered at most (finished results beyond it are forgotten, oldest first). Default 20. */
    maxKeys?: number;
    /** How long a waiting computation starts after the running one settled. Default 0. */
    gatherMs?: number;
    now?: () => number;
  }) {
    this.#version = options.version;
    this.#reuseMs = options.reuseMs;
    this.#maxKeys = options.maxKeys ?? 20;
    this.#gatherMs = options.gatherMs ?? 0;
    this.#now = options.now ?? Date.now;
  }

  /** Keys with a computation running or waiting, or a result kept for reuse. */
  get size(): number {
    return this.#keys.size;
  }

  run(key: string, compute: () => Promise<T>): Promise<T> {
    const version = this.#version();
    let state = this.#keys.get(key);
    const current = state?.current;
    if (current && current.version === version && !current.isFailed) {
      if (!current.isSettled || this.#now() - current.startedAt <= this.#reuseMs()) {
        this.stats.shared += 1;
        return current.promise;
      }
    }
    if (!state) {
      this.#prune();
      state = { current: null, next: null };
      this.#keys.set(key, state);
    }
    if (state.next) {
      // A computation that has not started yet sees every change this request may know of.
      this.stats.shared += 1;
      return state.next.promise;
    }
    if (current && !current.isSettled) {
      // Running, but started before a change this request may know of: wait for the next computation.
      let start = () => {};
      const promise = new Promise<T>((resolve, reject) => {
        start = () => this.#start(key, state, compute).then(resolve, reject);
      });
      state.next = { promise, start };
      return promise;
    }
    return this.#start(key, state, compute);
  }

  #start(key: string, state: KeyState<T>, compute: () => Promise<T>): Promise<T> {
    this.stats.computations += 1;
    const version = this.#version();
    const startedAt = this.#now();
    let promise: Promise<T>;
    try {
      promise = Promise.resolve(compute());
    } catch (error) {
      promise = Promise.reject(error);
    }
    const flight: Flight<T> = { version, startedAt, promise, isSettled: false, isFailed: false };
    state.current = flight;
    const settle = (isFailed: boolean) => {
      flight.isSettled = true;
      flight.isFailed = isFailed;
      const next = state.next;
      if (next) {
        const start = () => {
          state.next = null;
          next.start();
        };
        if (this.#gatherMs > 0) setTimeout(start, this.#gatherMs);
        else start();
      } else if ((isFailed || this.#reuseMs() <= 0) && this.#keys.get(key) === state) this.#keys.delete(key);
    };
    flight.promise.then(
      () => settle(false),
      () => settle(true),
    );
    return flight.promise;
  }

  /** Forgets finished results beyond `maxKeys`, oldest first; keys with work running or waiting stay. */
  #prune(): void {
    if (this.#keys.size < this.#maxKeys) return;
    for (const [key, state] of this.#keys) {
      if (this.#keys.size < this.#maxKeys) break;
      if (state.next === null && (state.current === null || state.current.isSettled)) this.#keys.delete(key);
    }
  }
}
