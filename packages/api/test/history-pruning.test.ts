import { randomBytes } from 'node:crypto';
import { BadInputError, type TaskManager } from '@dtm/core';
import { describe, expect, it } from 'vitest';
import { createManager } from '../../core/test/helpers.ts';
import { startServer } from '../src/start-server.ts';
import { databaseUrl, pastSlot, silentLogger, waitFor } from './helpers.ts';

async function historyCount(tm: TaskManager): Promise<number> {
  const { rows } = await tm.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${tm.schema}".task_history`,
  );
  return Number(rows[0]?.n);
}

describe('the sidecar prunes the history', () => {
  it('prunes old history shortly after the start, logs one line for the run, and stops with close()', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const workers = await createManager({ schema });
    const from = pastSlot(20);
    await workers.createTasks({ name: 'pruned', from, to: pastSlot(10), interval: 'PT5M' });
    for (let i = 0; i < 10; i++)
      await (await workers.acquire('pruned', new Date(from.getTime() + i * 300_000))).complete();
    await workers.pool.query(`UPDATE "${schema}".task_history SET at = now() - interval '40 days'`);
    expect(await historyCount(workers)).toBe(20);

    const lines: string[] = [];
    const server = await startServer({
      databaseUrl,
      schema,
      port: 0,
      dashboardDir: null,
      logger: { ...silentLogger, info: (_fields, message) => lines.push(message) },
      historyPruning: { firstRunAfterMs: 0, everyMs: 20 },
    });
    try {
      await waitFor('the history pruned', () =>
        lines.some((line) => line.startsWith('pruned 10 history rows')),
      );
      expect(await historyCount(workers)).toBe(10);
      expect(lines.filter((line) => line.startsWith('pruned'))).toHaveLength(1);
    } finally {
      await server.close();
    }
    // Closed, the sidecar holds no pruning lock any more.
    expect(await workers.pruneHistory()).toEqual({ deleted: 0, batches: 1 });
  });

  it('refuses a bad retention and does not start', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    await createManager({ schema });
    const starting = startServer({
      databaseUrl,
      schema,
      port: 0,
      dashboardDir: null,
      logger: silentLogger,
      historyPruning: { olderThan: 'P1M' },
    });
    await expect(starting).rejects.toBeInstanceOf(BadInputError);
  });
});
