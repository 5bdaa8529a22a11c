import { describe, expect, it } from 'vitest';
import { createManager, databaseUrl, pastSlot, uniqueName, waitFor } from './helpers.ts';
import { exited, printed, startFixture } from './processes.ts';

const tm = await createManager();
await tm.pool.query(`CREATE TABLE "${tm.schema}".results (name text, slot timestamptz, worker text)`);

describe('a worker killed mid-work', () => {
  it('releases its slot at once: acquirable again, no longer ACQUIRED, and nothing it wrote survives', async () => {
    const name = uniqueName();
    const slot = pastSlot();
    await tm.createTask({ name, slot, interval: 'PT5M' });
    const child = startFixture('hold-slot', [databaseUrl, tm.schema, name, slot.toISOString()]);
    const done = exited(child);
    await printed(child, 'HELD');
    const held = await tm.getTask(name, slot);
    expect(held?.state).toBe('ACQUIRED');
    expect(held?.holder?.worker).toBe(`doomed-${child.pid}`);
    await expect(tm.acquire(name, slot)).rejects.toThrow(/another worker holds it/);

    child.kill('SIGKILL');
    await done;
    const killedAt = Date.now();
    await waitFor(
      'the slot to stop reading ACQUIRED',
      async () => (await tm.getTask(name, slot))?.state === 'AVAILABLE',
    );
    const task = await tm.acquire(name, slot);
    const releasedMs = Date.now() - killedAt;
    await task.release();

    expect(await tm.getTask(name, slot)).toMatchObject({
      state: 'AVAILABLE',
      holder: null,
      failedAttempts: 0,
    });
    const { rows } = await tm.pool.query(`SELECT * FROM "${tm.schema}".results WHERE name = $1`, [name]);
    expect(rows).toEqual([]);
    console.log(`slot acquirable again ${releasedMs} ms after the holder's exit`);
  });
});
