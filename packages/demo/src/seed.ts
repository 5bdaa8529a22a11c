import type { TaskManager } from '@dtm/core';
import { DEMO_TASKS, resultsTableSql } from './tasks.ts';

const HOUR = 3_600_000;
const SEEDED_HOURS = 26;

/** Slots, counted back from the current one, that the first run leaves missing: the grid's gaps. */
const GAPS: Record<string, readonly number[]> = {
  'sensor-count': [118, 119, 120, 230],
  'hourly-report': [7],
  'daily-rollup': [],
};

/** Slots the first run skips by hand, with the operator's reason. */
const SKIPS: Record<string, { slotsAgo: readonly number[]; reason: string }> = {
  'sensor-count': {
    slotsAgo: [166, 167, 168, 169, 170],
    reason: 'sensor-7 offline for planned maintenance (OPS-1432)',
  },
  'hourly-report': {
    slotsAgo: [20],
    reason: 'reports-replica restored from backup; this hour is not comparable',
  },
};

/**
 * First run: the last ~day of slots for each demo name, minus a few gaps, with a few slots skipped. Later runs
 * create the slots that fell due while the demo was stopped, so it comes back on the same data.
 * Returns, per name, how many slots it created.
 */
export async function seedDemo(tm: TaskManager, now = new Date()): Promise<Record<string, number>> {
  await tm.pool.query(resultsTableSql(tm.schema));
  const created: Record<string, number> = {};
  for (const task of DEMO_TASKS) {
    const current = Math.floor(now.getTime() / task.intervalMs) * task.intervalMs;
    const existing = await tm.getTaskName(task.name);
    if (existing) {
      const since = new Date(current - SEEDED_HOURS * HOUR);
      const from = await newestSlot(tm, task.name, since);
      created[task.name] = (await tm.backfill({ name: task.name, from, to: now, createdBy: 'demo' })).length;
      continue;
    }
    const first = current - Math.max(3 * task.intervalMs, SEEDED_HOURS * HOUR);
    const gaps = new Set((GAPS[task.name] ?? []).map((ago) => current - ago * task.intervalMs));
    let count = 0;
    let runStart = first;
    for (let slot = first; slot <= current + task.intervalMs; slot += task.intervalMs) {
      if (gaps.has(slot) || slot > current) {
        if (slot > runStart) {
          count += await tm.createTasks({
            name: task.name,
            from: new Date(runStart),
            to: new Date(slot),
            interval: task.interval,
            createdBy: 'demo',
          });
        }
        runStart = slot + task.intervalMs;
      }
    }
    const skips = SKIPS[task.name];
    if (skips) {
      await tm.skip(
        { name: task.name, slots: skips.slotsAgo.map((ago) => new Date(current - ago * task.intervalMs)) },
        { reason: skips.reason, actor: 'ops:demo' },
      );
    }
    created[task.name] = count;
  }
  return created;
}

/** The newest slot of `name`, or `since` if that is later: a restart fills only the time it was down. */
async function newestSlot(tm: TaskManager, name: string, since: Date): Promise<Date> {
  const { rows } = await tm.pool.query<{ slot: Date | null }>(
    `SELECT max(slot) AS slot FROM "${tm.schema}".tasks WHERE name = $1`,
    [name],
  );
  const newest = rows[0]?.slot;
  return newest && newest > since ? newest : since;
}
