import { describe, expect, it } from 'vitest';
import { Backoff } from '../src/backoff.ts';

/** Whether `ms` is `expected` give or take the 25 % jitter. */
function isAbout(ms: number, expected: number): boolean {
  return ms >= Math.floor(expected * 0.75) && ms <= Math.ceil(expected * 1.25);
}

describe('Backoff', () => {
  it('doubles the delay at each failure, from minMs up to maxMs and no further', () => {
    const backoff = new Backoff({ minMs: 100, maxMs: 1_000 });
    const delays = Array.from({ length: 8 }, () => backoff.next());
    const expected = [100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000];
    delays.forEach((ms, i) => {
      expect(isAbout(ms, expected[i] as number), `delay ${i + 1}: ${ms} ms, about ${expected[i]}`).toBe(true);
    });
    expect(backoff.failures).toBe(8);
  });

  it('starts over at minMs after a success', () => {
    const backoff = new Backoff({ minMs: 100, maxMs: 5_000 });
    for (let i = 0; i < 5; i++) backoff.next();
    backoff.reset();
    expect(backoff.failures).toBe(0);
    expect(isAbout(backoff.next(), 100)).toBe(true);
  });

  it('never overflows, however many failures', () => {
    const backoff = new Backoff({ minMs: 100, maxMs: 5_000 });
    for (let i = 0; i < 2_000; i++) backoff.next();
    expect(isAbout(backoff.next(), 5_000)).toBe(true);
  });

  it('retry runs the attempt until it succeeds, reports each failure, and starts over afterwards', async () => {
    const backoff = new Backoff({ minMs: 1, maxMs: 4 });
    const errors: unknown[] = [];
    let attempts = 0;
    const value = await backoff.retry(
      async () => {
        attempts += 1;
        if (attempts < 4) throw new Error(`failure ${attempts}`);
        return 'connected';
      },
      (error) => errors.push(error),
    );
    expect(value).toBe('connected');
    expect(attempts).toBe(4);
    expect(errors.map((error) => (error as Error).message)).toEqual(['failure 1', 'failure 2', 'failure 3']);
    expect(backoff.failures).toBe(0);
  });

  it('an aborted signal ends a wait at once and stops retrying before the next attempt', async () => {
    const closing = new AbortController();
    // A minute between attempts: the test would time out if the abort did not end the wait.
    const backoff = new Backoff({ minMs: 60_000, maxMs: 60_000, signal: closing.signal });
    let attempts = 0;
    let failed: () => void = () => {};
    const firstFailure = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const retrying = backoff.retry(
      async () => {
        attempts += 1;
        throw new Error('down');
      },
      () => failed(),
    );
    await firstFailure;
    closing.abort();
    expect(await retrying).toBeUndefined();
    expect(attempts).toBe(1);
    expect(backoff.isStopped).toBe(true);
    expect(await backoff.wait()).toBe(false);
    expect(await backoff.retry(async () => 'never run')).toBeUndefined();
  });

  it('retry returns what an attempt under way when the signal fired produced, for the caller to dispose of', async () => {
    const closing = new AbortController();
    const backoff = new Backoff({ signal: closing.signal });
    const value = await backoff.retry(async () => {
      closing.abort();
      return 'a connection';
    });
    expect(value).toBe('a connection');
  });
});
