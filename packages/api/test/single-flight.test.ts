import { describe, expect, it } from 'vitest';
import { VersionedSingleFlight } from '../src/single-flight.ts';

/** A computation that the test finishes by hand, recording the version it started at. */
function gate(started: number[], version: () => number) {
  const finishers: Array<(value: string) => void> = [];
  const compute = () => {
    started.push(version());
    return new Promise<string>((resolve) => finishers.push(resolve));
  };
  return { compute, finishers };
}

/** Lets the microtasks that start and settle computations run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Polls `check` every few milliseconds until it holds; fails after five seconds. */
async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('VersionedSingleFlight', () => {
  it('shares one computation between concurrent requests at the same version', async () => {
    const version = 0;
    const flights = new VersionedSingleFlight<string>({ version: () => version, reuseMs: () => 0 });
    const started: number[] = [];
    const { compute, finishers } = gate(started, () => version);
    const a = flights.run('k', compute);
    const b = flights.run('k', compute);
    await settle();
    expect(started).toEqual([0]);
    finishers[0]?.('grid@0');
    expect(await Promise.all([a, b])).toEqual(['grid@0', 'grid@0']);
    expect(flights.stats).toEqual({ computations: 1, shared: 1 });
  });

  it('never hands a request a computation that started before a change it arrived after', async () => {
    let version = 0;
    const flights = new VersionedSingleFlight<string>({ version: () => version, reuseMs: () => 60_000 });
    const started: number[] = [];
    const { compute, finishers } = gate(started, () => version);
    const before = flights.run('k', compute);
    await settle();
    version = 1; // an event was announced while the first computation ran
    const after = flights.run('k', compute);
    const alsoAfter = flights.run('k', compute);
    await settle();
    // The later requests wait for a computation of their own, started once the running one is done.
    expect(started).toEqual([0]);
    finishers[0]?.('grid@0');
    expect(await before).toBe('grid@0');
    await settle();
    expect(started).toEqual([0, 1]);
    finishers[1]?.('grid@1');
    expect(await Promise.all([after, alsoAfter])).toEqual(['grid@1', 'grid@1']);
    // The finished result is reused at its version, within reuseMs, and not after another change.
    expect(await flights.run('k', compute)).toBe('grid@1');
    version = 2;
    const fresh = flights.run('k', compute);
    await settle();
    expect(started).toEqual([0, 1, 2]);
    finishers[2]?.('grid@2');
    expect(await fresh).toBe('grid@2');
  });

  it('runs one computation per key at a time however often the version moves, and keys apart', async () => {
    let version = 0;
    const flights = new VersionedSingleFlight<string>({ version: () => version, reuseMs: () => 0 });
    const started: number[] = [];
    const { compute, finishers } = gate(started, () => version);
    const requests: Promise<string>[] = [];
    for (let i = 0; i < 10; i++) {
      requests.push(flights.run('k', compute));
      version += 1;
    }
    const other = flights.run('other', async () => 'other');
    await settle();
    expect(started).toEqual([0]);
    expect(await other).toBe('other');
    finishers[0]?.('first');
    await settle();
    expect(started).toEqual([0, 10]);
    finishers[1]?.('second');
    expect(await Promise.all(requests)).toEqual(['first', ...Array.from({ length: 9 }, () => 'second')]);
  });

  it('starts a waiting computation gatherMs after the running one, and gives it the requests that came meanwhile', async () => {
    let version = 0;
    const flights = new VersionedSingleFlight<string>({
      version: () => version,
      reuseMs: () => 0,
      gatherMs: 100,
    });
    const started: number[] = [];
    const { compute, finishers } = gate(started, () => version);
    const first = flights.run('k', compute);
    version = 1;
    const waiting = flights.run('k', compute);
    finishers[0]?.('grid@0');
    expect(await first).toBe('grid@0');
    // The client that the first computation answered asks again, after another change: it joins the
    // computation that has not started yet, which will see that change.
    version = 2;
    const again = flights.run('k', compute);
    await settle();
    expect(started).toEqual([0]);
    await waitFor(() => started.length === 2);
    expect(started).toEqual([0, 2]);
    // Once it has started, a request after a further change waits for a computation of its own.
    version = 3;
    const later = flights.run('k', compute);
    finishers[1]?.('grid@2');
    expect(await Promise.all([waiting, again])).toEqual(['grid@2', 'grid@2']);
    await waitFor(() => started.length === 3);
    finishers[2]?.('grid@3');
    expect(await later).toBe('grid@3');
    expect(flights.stats).toEqual({ computations: 3, shared: 1 });
  });

  it('gives a failure to the requests that shared it, and computes afresh after it', async () => {
    const flights = new VersionedSingleFlight<string>({ version: () => 0, reuseMs: () => 60_000 });
    let calls = 0;
    const failing = () => {
      calls += 1;
      return Promise.reject(new Error('database down'));
    };
    const results = await Promise.allSettled([flights.run('k', failing), flights.run('k', failing)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
    expect(await flights.run('k', async () => 'back')).toBe('back');
  });

  it('forgets finished results beyond maxKeys, oldest first', async () => {
    const flights = new VersionedSingleFlight<string>({
      version: () => 0,
      reuseMs: () => 60_000,
      maxKeys: 2,
    });
    for (const key of ['a', 'b', 'c']) await flights.run(key, async () => key);
    expect(flights.size).toBe(2);
    let calls = 0;
    expect(
      await flights.run('a', async () => {
        calls += 1;
        return 'a again';
      }),
    ).toBe('a again');
    expect(calls).toBe(1);
  });
});
