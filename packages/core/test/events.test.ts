import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { TaskEvent } from '../src/index.ts';
import { createManager, databaseUrl, pastSlot, uniqueName, waitFor } from './helpers.ts';

const tm = await createManager();

describe('subscribe', () => {
  it('delivers every committed transition once, and nothing for rolled-back ones', async () => {
    const name = uniqueName();
    const slot = pastSlot();
    const events: TaskEvent[] = [];
    const subscription = await tm.subscribe({ onEvent: (event) => events.push(event) });
    try {
      await tm.createTask({ name, slot, interval: 'PT5M', createdBy: 'creator' });
      await (await tm.acquire(name, slot)).release();
      await (await tm.acquire(name, slot)).complete();
      const mine = () => events.filter((e) => e.kind === 'transition' && e.name === name);
      await waitFor('three transitions', () => mine().length >= 3);
      expect(mine().map((e) => (e.kind === 'transition' ? [e.from, e.to] : []))).toEqual([
        [null, 'AVAILABLE'],
        ['AVAILABLE', 'ACQUIRED'],
        ['ACQUIRED', 'COMPLETE'],
      ]);
      expect(mine()[0]).toMatchObject({ slot, actor: 'creator' });
    } finally {
      await subscription.close();
    }
  });

  it('announces what every kind of write records: fail, skip, re-queue, backfill, in commit order', async () => {
    const name = uniqueName();
    const [first, second, third] = [pastSlot(3), pastSlot(2), pastSlot(1)] as [Date, Date, Date];
    await tm.createTask({ name, slot: first, interval: 'PT5M' });
    const events: TaskEvent[] = [];
    const subscription = await tm.subscribe({ onEvent: (event) => events.push(event) });
    try {
      await (await tm.acquire(name, first)).fail('boom');
      await tm.skip({ name, slots: [first] }, { reason: 'not needed', actor: 'operator' });
      await tm.requeue({ name, slots: [first] }, { reason: 'needed after all', actor: 'operator' });
      await tm.backfill({ name, from: second, to: new Date(third.getTime() + 300_000) });
      const mine = () =>
        events.flatMap((e) =>
          e.kind === 'transition' && e.name === name ? [[e.slot.getTime(), e.from, e.to]] : [],
        );
      await waitFor('six transitions', () => mine().length >= 6);
      expect(mine()).toEqual([
        [first.getTime(), 'AVAILABLE', 'ACQUIRED'],
        [first.getTime(), 'ACQUIRED', 'AVAILABLE'],
        [first.getTime(), 'AVAILABLE', 'SKIP'],
        [first.getTime(), 'SKIP', 'AVAILABLE'],
        [second.getTime(), null, 'AVAILABLE'],
        [third.getTime(), null, 'AVAILABLE'],
      ]);
    } finally {
      await subscription.close();
    }
  });

  it('a holder’s ending notifies nobody, and is delivered as both of its transitions in order, as recorded in history', async () => {
    const name = uniqueName();
    const [done, failed] = [pastSlot(2), pastSlot(1)] as [Date, Date];
    await tm.createTasks({ name, from: done, to: new Date(failed.getTime() + 300_000), interval: 'PT5M' });
    const events: TaskEvent[] = [];
    const subscription = await tm.subscribe({ onEvent: (event) => events.push(event) });
    const raw = new pg.Client(databaseUrl);
    const payloads: string[] = [];
    await raw.connect();
    raw.on('notification', (message) => {
      if (message.payload?.includes(name)) payloads.push(message.payload);
    });
    await raw.query(`LISTEN "${tm.schema}.events"`);
    try {
      await (await tm.acquire(name, done, { worker: 'worker-a' })).complete('counted');
      await (await tm.acquire(name, failed, { worker: 'worker-b' })).fail('boom');
      const mine = () => events.filter((e) => e.kind === 'transition' && e.name === name);
      await waitFor('four transitions', () => mine().length >= 4);
      // The failure wakes workers on the work channel; the events channel heard nothing.
      expect(payloads).toEqual([]);
      const recorded = [...(await tm.history(name, done)), ...(await tm.history(name, failed))].filter(
        (h) => h.fromState !== null,
      );
      expect(mine()).toHaveLength(recorded.length);
      mine().forEach((event, i) => {
        const row = recorded[i];
        expect(event).toMatchObject({
          slot: row?.slot,
          from: row?.fromState,
          to: row?.toState,
          actor: row?.actor,
        });
        // the same instant (a Date keeps milliseconds; each side may round the microseconds its own way)
        if (event.kind === 'transition')
          expect(Math.abs(event.at.getTime() - Number(row?.at))).toBeLessThanOrEqual(1);
      });
      expect(mine().map((e) => (e.kind === 'transition' ? [e.from, e.to, e.actor] : []))).toEqual([
        ['AVAILABLE', 'ACQUIRED', 'worker-a'],
        ['ACQUIRED', 'COMPLETE', 'worker-a'],
        ['AVAILABLE', 'ACQUIRED', 'worker-b'],
        ['ACQUIRED', 'AVAILABLE', 'worker-b'],
      ]);
    } finally {
      await raw.end();
      await subscription.close();
    }
  });

  it('says whether each transition recorded a message', async () => {
    const name = uniqueName();
    const [quiet, counted, failed] = [pastSlot(3), pastSlot(2), pastSlot(1)] as [Date, Date, Date];
    await tm.createTasks({ name, from: quiet, to: new Date(failed.getTime() + 300_000), interval: 'PT5M' });
    const events: TaskEvent[] = [];
    const subscription = await tm.subscribe({ onEvent: (event) => events.push(event) });
    try {
      await (await tm.acquire(name, quiet)).complete();
      await (await tm.acquire(name, counted)).complete('counted');
      await (await tm.acquire(name, failed)).fail('boom');
      await tm.requeue({ name, slots: [counted] }, { reason: 'again' });
      await subscription.sync();
      const mine = events.filter((e) => e.kind === 'transition' && e.name === name);
      expect(mine.map((e) => (e.kind === 'transition' ? [e.from, e.to, e.hasMessage] : []))).toEqual([
        ['AVAILABLE', 'ACQUIRED', false],
        ['ACQUIRED', 'COMPLETE', false],
        ['AVAILABLE', 'ACQUIRED', false],
        ['ACQUIRED', 'COMPLETE', true],
        ['AVAILABLE', 'ACQUIRED', false],
        ['ACQUIRED', 'AVAILABLE', true],
        ['COMPLETE', 'AVAILABLE', true],
      ]);
    } finally {
      await subscription.close();
    }
  });

  it('summarises a statement that changes many slots as one bulk event per name', async () => {
    const name = uniqueName();
    const from = pastSlot(500);
    const events: TaskEvent[] = [];
    const subscription = await tm.subscribe({ onEvent: (event) => events.push(event) });
    try {
      await tm.createTasks({ name, from, to: new Date(from.getTime() + 300 * 300_000), interval: 'PT5M' });
      const bulk = await waitFor('a bulk event', () =>
        events.find((e) => e.kind === 'bulk' && e.name === name),
      );
      expect(bulk).toEqual({ kind: 'bulk', name, count: 300 });
    } finally {
      await subscription.close();
    }
  });

  it('sync resolves only once every transition committed before it has been delivered', async () => {
    const name = uniqueName();
    const events: TaskEvent[] = [];
    const others: TaskEvent[] = [];
    const subscription = await tm.subscribe({ onEvent: (event) => events.push(event) });
    const other = await tm.subscribe({ onEvent: (event) => others.push(event) });
    try {
      for (let i = 0; i < 20; i++) await tm.createTask({ name, slot: pastSlot(i), interval: 'PT5M' });
      await subscription.sync();
      // No waiting: the twenty are there the moment sync resolves.
      expect(events.filter((e) => e.name === name)).toHaveLength(20);
      await other.sync();
      expect(others.filter((e) => e.name === name)).toHaveLength(20);
      expect([...events, ...others].filter((e) => e.name !== name)).toEqual([]);
    } finally {
      await subscription.close();
      await other.close();
    }
    await expect(subscription.sync()).rejects.toThrow(/not listening/);
  });

  it('many syncs at once: each resolves after what was committed before it was called', async () => {
    const name = uniqueName();
    const events: TaskEvent[] = [];
    const subscription = await tm.subscribe({ onEvent: (event) => events.push(event) });
    try {
      let committed = 0;
      const isUpToDate = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          await tm.createTask({ name, slot: pastSlot(i), interval: 'PT5M' });
          committed += 1;
          const before = committed;
          await subscription.sync();
          return events.filter((e) => e.name === name).length >= before;
        }),
      );
      expect(isUpToDate.every(Boolean)).toBe(true);
      expect(events.filter((e) => e.name === name)).toHaveLength(50);
    } finally {
      await subscription.close();
    }
  });

  it('delivers a transaction that recorded before a read and committed after it, once', async () => {
    const [late, early] = [uniqueName(), uniqueName()];
    const events: TaskEvent[] = [];
    // Polling off, in effect: only sync reads.
    const subscription = await tm.subscribe({ onEvent: (event) => events.push(event), pollInterval: 60_000 });
    const client = await tm.pool.connect();
    try {
      await client.query('BEGIN');
      // Recorded first (the lower id), committed last.
      await client.query(
        `INSERT INTO "${tm.schema}".task_history (name, slot, from_state, to_state, actor)
         VALUES ($1, $2, NULL, 'AVAILABLE', 'late')`,
        [late, pastSlot()],
      );
      await tm.createTask({ name: early, slot: pastSlot(), interval: 'PT5M' });
      await subscription.sync();
      expect(events.map((e) => e.name)).toEqual([early]);
      await client.query('COMMIT');
      await subscription.sync();
      await subscription.sync();
      expect(events.map((e) => e.name)).toEqual([early, late]);
    } finally {
      client.release();
      await subscription.close();
    }
  });

  it('skips a read with more than 50,000 transitions to tell, asks for a resync, and goes on', async () => {
    const [many, after] = [uniqueName(), uniqueName()];
    const events: TaskEvent[] = [];
    let resyncs = 0;
    const subscription = await tm.subscribe({
      onEvent: (event) => events.push(event),
      onResync: () => {
        resyncs += 1;
      },
      pollInterval: 60_000,
    });
    try {
      // One transaction, one row per name: nothing to summarise, 50,001 transitions to tell.
      await tm.pool.query(
        `INSERT INTO "${tm.schema}".task_history (name, slot, from_state, to_state, actor)
         SELECT $1 || g, now(), NULL, 'AVAILABLE', 'bulk' FROM generate_series(1, 50001) g`,
        [many],
      );
      await subscription.sync();
      expect(resyncs).toBe(1);
      expect(events).toEqual([]);
      await tm.createTask({ name: after, slot: pastSlot(), interval: 'PT5M' });
      await subscription.sync();
      expect(resyncs).toBe(1);
      expect(events.map((e) => e.name)).toEqual([after]);
    } finally {
      await subscription.close();
    }
  });

  it('rejects a bad poll interval', async () => {
    await expect(tm.subscribe({ onEvent: () => {}, pollInterval: 0 })).rejects.toThrow(/pollInterval/);
  });

  it('reconnects after its connection is killed, tells the caller, and delivers what was committed meanwhile', async () => {
    const name = uniqueName();
    const events: TaskEvent[] = [];
    let reconnects = 0;
    const subscription = await tm.subscribe({
      onEvent: (event) => events.push(event),
      onResync: () => {
        reconnects += 1;
      },
    });
    try {
      await subscription.sync();
      // Its last statement: a read of the history.
      const { rows } = await tm.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE query LIKE '%pg_snapshot_xip%' AND query LIKE $1 AND pid <> pg_backend_pid()`,
        [`%"${tm.schema}".transitions%`],
      );
      expect(rows).toHaveLength(1);
      await waitFor('the connection to be seen lost', () => !subscription.isConnected);
      await tm.createTask({ name, slot: pastSlot(), interval: 'PT5M' });
      await waitFor('a reconnect', () => reconnects === 1 && subscription.isConnected);
      await waitFor('the event committed while away', () => events.some((e) => e.name === name));
    } finally {
      await subscription.close();
    }
  });
});
