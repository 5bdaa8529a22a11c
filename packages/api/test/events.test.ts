import { describe, expect, it } from 'vitest';
import {
  createTestApp,
  openEvents,
  pastSlot,
  post,
  recordingLogger,
  SUBSCRIPTION_SESSION,
  uniqueName,
  waitFor,
} from './helpers.ts';

const { app, worker, events } = await createTestApp({ limits: { heartbeatMs: 200, maxEventClients: 3 } });

describe('GET /api/events', () => {
  it('sends ready, then every transition made through the core, as JSON', async () => {
    const stream = await openEvents(app);
    try {
      expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      await stream.next((e) => e.event === 'ready');
      const name = uniqueName();
      const slot = pastSlot();
      await worker.createTask({ name, slot, interval: 'PT5M', createdBy: 'creator' });
      const created = await stream.next((e) => e.event === 'transition' && e.data.includes(`"${name}"`));
      expect(JSON.parse(created.data)).toEqual({
        name,
        slot: slot.toISOString(),
        from: null,
        to: 'AVAILABLE',
        actor: 'creator',
        at: expect.any(String),
      });
      await (await worker.acquire(name, slot)).complete();
      const completed = await stream.next((e) => e.event === 'transition' && e.data.includes('"COMPLETE"'));
      expect(JSON.parse(completed.data)).toMatchObject({ name, from: 'ACQUIRED', to: 'COMPLETE' });
    } finally {
      await stream.close();
    }
  });

  it('sends holders when a worker takes a slot and when its transaction ends without a change', async () => {
    const stream = await openEvents(app);
    try {
      await stream.next((e) => e.event === 'ready');
      const name = uniqueName();
      const slot = pastSlot();
      await worker.createTask({ name, slot, interval: 'PT5M' });
      const task = await worker.acquire(name, slot, { worker: 'holder-1' });
      const taken = await stream.next((e) => e.event === 'holders' && e.data.includes(`"${name}"`));
      expect(JSON.parse(taken.data).names).toContain(name);
      // A rollback commits nothing and notifies nothing, exactly like a crashed holder.
      await task.release();
      const letGo = await stream.next((e) => e.event === 'holders' && e.data.includes(`"${name}"`));
      expect(JSON.parse(letGo.data).names).toContain(name);
    } finally {
      await stream.close();
    }
  });

  it('fans one subscription out to every client, and sends a bulk event for a statement that changed many slots', async () => {
    const a = await openEvents(app);
    const b = await openEvents(app);
    try {
      await a.next((e) => e.event === 'ready');
      await b.next((e) => e.event === 'ready');
      // One subscription for the API (the slot index's, which the hub listens through).
      const listeners = await worker.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE ${SUBSCRIPTION_SESSION}`,
        [worker.schema],
      );
      expect(Number(listeners.rows[0]?.n)).toBe(1);
      const name = uniqueName();
      const from = pastSlot(500);
      await worker.createTasks({
        name,
        from,
        to: new Date(from.getTime() + 150 * 300_000),
        interval: 'PT5M',
      });
      for (const stream of [a, b]) {
        const bulk = await stream.next((e) => e.event === 'bulk');
        expect(JSON.parse(bulk.data)).toEqual({ name, count: 150 });
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('sends comment heartbeats', async () => {
    const stream = await openEvents(app);
    try {
      expect(await stream.nextComment()).toBe('heartbeat');
    } finally {
      await stream.close();
    }
  });

  it('tells clients to resync after its database connection was lost and is back, then keeps delivering', async () => {
    const stream = await openEvents(app);
    try {
      await stream.next((e) => e.event === 'ready');
      // The slot index's subscription, which the hub listens through.
      const { rows } = await worker.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${SUBSCRIPTION_SESSION}`,
        [worker.schema],
      );
      expect(rows).toHaveLength(1);
      await stream.next((e) => e.event === 'resync');
      const name = uniqueName();
      await worker.createTask({ name, slot: pastSlot(), interval: 'PT5M' });
      await stream.next((e) => e.event === 'transition' && e.data.includes(`"${name}"`));
    } finally {
      await stream.close();
    }
  });

  it('stops listening when the last client leaves, and refuses streams beyond the cap with 503', async () => {
    await waitFor('the hub to be idle', () => events.size === 0);
    const streams = [await openEvents(app), await openEvents(app), await openEvents(app)];
    const refused = await app.request('/api/events');
    expect(refused.status).toBe(503);
    for (const stream of streams) await stream.close();
    await waitFor('every client detached', () => events.size === 0);
    await waitFor('the subscription closed', () => !events.isConnected);
  });

  it('logs each refusal beyond the cap as one line, not as an error with its stack', async () => {
    const recorded = recordingLogger();
    const capped = await createTestApp({ limits: { maxEventClients: 1 }, logger: recorded.logger });
    const stream = await openEvents(capped.app);
    try {
      for (let i = 0; i < 3; i += 1) expect((await capped.app.request('/api/events')).status).toBe(503);
    } finally {
      await stream.close();
    }
    expect(recorded.entries).toEqual(
      Array.from({ length: 3 }, () => expect.stringMatching(/^warn [^\n]*too many event streams[^\n]*$/)),
    );
  });

  it('a write through the API arrives as a transition with the API actor', async () => {
    const name = uniqueName();
    const slot = pastSlot();
    await worker.createTask({ name, slot, interval: 'PT5M' });
    await (await worker.acquire(name, slot)).complete();
    const stream = await openEvents(app);
    try {
      await stream.next((e) => e.event === 'ready');
      expect(
        (await post(app, '/api/requeue', { name, slots: [slot.toISOString()], reason: 'late' })).status,
      ).toBe(200);
      const event = await stream.next((e) => e.event === 'transition' && e.data.includes(`"${name}"`));
      expect(JSON.parse(event.data)).toMatchObject({
        from: 'COMPLETE',
        to: 'AVAILABLE',
        actor: 'tests@local',
      });
    } finally {
      await stream.close();
    }
  });
});
