import { describe, expect, it } from 'vitest';
import { gridResponse, namesResponse, taskResponse, tasksResponse } from '../src/schemas.ts';
import { createTestApp, getJson, gridCells, pastSlot, post, uniqueName } from './helpers.ts';

const { app, worker } = await createTestApp();

async function heldSlot() {
  const name = uniqueName('held');
  const slot = pastSlot(2);
  const done = pastSlot(3);
  await worker.createTasks({ name, from: done, to: new Date(slot.getTime() + 300_000), interval: 'PT5M' });
  await (await worker.acquire(name, done)).complete('earlier run');
  const held = await worker.acquire(name, slot, { worker: 'reporter-7' });
  return { name, slot, done, held };
}

describe('the live overlay', () => {
  it('a slot a worker holds reads ACQUIRED with its holder on every read route, and stops when it ends', async () => {
    const { name, slot, held } = await heldSlot();
    const q = encodeURIComponent(name);
    const detail = taskResponse.parse(await getJson(app, `/api/tasks/${q}/${slot.toISOString()}`));
    expect(detail.task.state).toBe('ACQUIRED');
    expect(detail.task.holder).toEqual({ worker: 'reporter-7', since: expect.any(String) });

    const list = tasksResponse.parse(await getJson(app, `/api/tasks?name=${q}&state=ACQUIRED`));
    expect(list.tasks.map((t) => t.slot)).toEqual([slot.toISOString()]);

    const grid = gridResponse.parse(
      await getJson(
        app,
        `/api/grid?names=${q}&from=${pastSlot(3).toISOString()}&to=${pastSlot(1).toISOString()}`,
      ),
    );
    expect(grid.rows[0]?.states).toBe('CR');
    expect(grid.messages).toEqual(['earlier run']);
    expect(grid.rows[0]?.details).toEqual([
      [0, null, 0, 0],
      [1, null, 0, null, { worker: 'reporter-7', since: expect.any(String) }],
    ]);
    expect(grid.rows[0]?.summary.running).toBe(1);
    const bucketed = gridResponse.parse(
      await getJson(
        app,
        `/api/grid?names=${q}&from=${pastSlot(3).toISOString()}&to=${pastSlot(1).toISOString()}&columns=1`,
      ),
    );
    expect(bucketed.rows[0]?.states).toBe('R');
    expect(gridCells(bucketed)).toEqual([
      expect.objectContaining({
        state: 'ACQUIRED',
        counts: { COMPLETE: 1, ACQUIRED: 1 },
        holder: { worker: 'reporter-7', since: expect.any(String) },
      }),
    ]);

    const names = namesResponse.parse(await getJson(app, '/api/names'));
    expect(names.names.find((n) => n.name === name)?.counts).toEqual({
      AVAILABLE: 0,
      ACQUIRED: 1,
      COMPLETE: 1,
      SKIP: 0,
    });

    await held.complete('done');
    const after = taskResponse.parse(await getJson(app, `/api/tasks/${q}/${slot.toISOString()}`));
    expect(after.task).toMatchObject({ state: 'COMPLETE', holder: null });
  });

  it('POST /api/requeue of a held slot answers 409 BUSY at once and the holder completes undisturbed', async () => {
    const { name, slot, held } = await heldSlot();
    const started = Date.now();
    const response = await post(app, '/api/requeue', {
      name,
      slots: [slot.toISOString()],
      reason: 'late data',
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({
      error: { code: 'BUSY', message: expect.any(String) },
      outcomes: [{ slot: slot.toISOString(), outcome: 'busy' }],
      counts: { requeued: 0, busy: 1, notFound: 0, unchanged: 0 },
    });
    expect(held.isHeld).toBe(true);
    expect(held.signal.aborted).toBe(false);
    await held.complete('finished anyway');
    expect(await worker.getTask(name, slot)).toMatchObject({ state: 'COMPLETE', message: 'finished anyway' });
  });

  it('a re-queue of a range that holds a busy slot re-queues the rest and reports the busy one', async () => {
    const { name, slot, done, held } = await heldSlot();
    const response = await post(app, '/api/requeue', {
      name,
      from: done.toISOString(),
      to: new Date(slot.getTime() + 300_000).toISOString(),
      reason: 'rerun',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      outcomes: [
        { slot: done.toISOString(), outcome: 'requeued' },
        { slot: slot.toISOString(), outcome: 'busy' },
      ],
    });
    await held.complete();
  });

  it('POST /api/skip of a held slot answers 409 BUSY and leaves it to its holder', async () => {
    const { name, slot, held } = await heldSlot();
    const response = await post(app, '/api/skip', {
      name,
      slots: [slot.toISOString()],
      reason: 'maintenance',
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { code: 'BUSY' }, counts: { skipped: 0, busy: 1 } });
    await held.complete('not skipped');
    expect(await worker.getTask(name, slot)).toMatchObject({ state: 'COMPLETE', message: 'not skipped' });
  });
});
