import { randomBytes } from 'node:crypto';
import { TaskManager } from '@dtm/core';
import { testDatabaseUrl } from '@dtm/dev-db/test-database';
import { afterAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/seed.ts';
import { DEMO_TASKS } from '../src/tasks.ts';

const databaseUrl = testDatabaseUrl();
const schema = `demo_${randomBytes(5).toString('hex')}`;
const tm = new TaskManager({ connectionString: databaseUrl, schema, workerName: 'demo-test' });
await tm.migrate();
afterAll(async () => {
  await tm.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await tm.close();
});

const countStates = async (name: string) => {
  const tasks = await tm.listTasks({ name, limit: 10_000 });
  return { total: tasks.length, skipped: tasks.filter((task) => task.state === 'SKIP').length };
};

describe('the demo seed', () => {
  const now = new Date();
  it('creates about a day of slots for each name, leaving gaps and skipping a few with a reason', async () => {
    const created = await seedDemo(tm, now);
    expect(Object.keys(created)).toEqual(DEMO_TASKS.map((task) => task.name));
    expect(created['sensor-count']).toBeGreaterThan(300);
    const sensor = await countStates('sensor-count');
    expect(sensor.skipped).toBe(5);
    const [skipped] = await tm.listTasks({ name: 'sensor-count', states: ['SKIP'], limit: 1 });
    expect(skipped?.message).toContain('maintenance');
    // 26 h of five-minute slots plus the current one, minus the four gaps
    expect(sensor.total).toBe(26 * 12 + 1 - 4);
  });

  it('comes back on the same data: a second run fills only the time it was away, never the gaps', async () => {
    const before = await countStates('sensor-count');
    const created = await seedDemo(tm, new Date(now.getTime() + 15 * 60_000));
    expect(created['sensor-count']).toBe(3);
    const after = await countStates('sensor-count');
    expect(after.total).toBe(before.total + 3);
    expect(after.skipped).toBe(5);
  });

  it('writes each slot result through the held transaction, so it commits with COMPLETE', async () => {
    const sensor = DEMO_TASKS[0];
    if (!sensor) throw new Error('no demo task');
    const [first] = await tm.listTasks({ name: sensor.name, states: ['AVAILABLE'], limit: 50 });
    if (!first) throw new Error('no available slot');
    await tm.run(sensor.name, first.slot, (task) => sensor.handle(task, schema)).catch(() => {});
    const { rows } = await tm.pool.query(
      `SELECT value FROM "${schema}".demo_results WHERE name = $1 AND slot = $2`,
      [sensor.name, first.slot],
    );
    const task = await tm.getTask(sensor.name, first.slot);
    // Either it completed with its result row, or it failed (a believable message) and wrote nothing.
    if (task?.state === 'COMPLETE') expect(rows).toHaveLength(1);
    else {
      expect(rows).toHaveLength(0);
      expect(task?.message).toMatch(/source unreachable|timeout/);
    }
  });
});
