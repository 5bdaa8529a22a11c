/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** The delay after the first failure, in ms. Default 100. */
  minMs?: number;
  /** The longest delay, in ms. Default 5000. */
  maxMs?: number;
  /** Ends every wait at once, and every retry before its next attempt (the owner is closing). */
  signal?: AbortSignal;
}

/** Random spread of a delay, as a fraction of it, so that clients cut off together do not retry together. */
const JITTER = 0.25;

/**
 * The waits between the attempts of something that must eventually work (a connection, a listener): each
 * failure doubles the delay, from `minMs` up to `maxMs` (±25 % jitter), a success starts over, and an aborted
 * `signal` ends it. One per resource (each lane, each listener), since it counts that resource's failures.
 */
export class Backoff {
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #signal: AbortSignal | undefined;
  #failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.#minMs = options.minMs ?? 100;
    this.#maxMs = options.maxMs ?? 5_000;
    this.#signal = options.signal;
  }

  /** Failures since the last success. */
  get failures(): number {
    return this.#failures;
  }

  /** Whether the signal ended it. */
  get isStopped(): boolean {
    return this.#signal?.aborted ?? false;
  }

  /** Counts a failure; the delay before the next attempt, in ms. */
  next(): number {
    this.#failures += 1;
    const ms = Math.min(this.#maxMs, this.#minMs * 2 ** Math.min(this.#failures - 1, 30));
    return Math.round(ms * (1 - JITTER + 2 * JITTER * Math.random()));
  }

  /** A success: the next failure waits `minMs` again. */
  reset(): void {
    this.#failures = 0;
  }

  /**
   * Counts a failure and waits its delay (a timer that keeps no process alive); false, at once or as soon as
   * it happens, when the signal is aborted.
   */
  wait(): Promise<boolean> {
    const ms = this.next();
    const signal = this.#signal;
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Runs `attempt` until it resolves, reporting each failure to `onError` and waiting with backoff between
   * them; resets on success. Resolves with the attempt's value, or undefined when the signal was aborted
   * before one succeeded. An attempt under way when the signal fires is not interrupted: if it succeeds, its
   * value is returned, and the caller, which is closing, disposes of it.
   */
  async retry<T>(attempt: () => Promise<T>, onError?: (error: unknown) => void): Promise<T | undefined> {
    while (!this.isStopped) {
      try {
        const value = await attempt();
        this.reset();
        return value;
      } catch (error) {
        onError?.(error);
        if (!(await this.wait())) return undefined;
      }
    }
    return undefined;
  }
}
