// Which commitBatch the batched DTM row uses: drains at 1 process × 16 and × 64 with commitBatch 10 and 50,
// alternating, on an embedded server with durable commits. `node --import tsx bench/commit-batch-trial.ts`;
// writes results/commit-batch-trial.md.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@dtm/dev-db';
import { spread } from './common.ts';
import { loadSample } from './report.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 5_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const db = await openDatabase({
  dataDir: fileURLToPath(
    new URL(`../../../.data/bench-trial-${randomBytes(4).toString('hex')}`, import.meta.url),
  ),
  isThrowaway: true,
  settings: { fsync: 'on', synchronous_commit: 'on' },
});
const rates: Record<string, number[]> = {};
const load = loadSample('start');
try {
  for (let round = 0; round < ROUNDS; round++)
    for (const concurrency of [16, 64])
      for (const batch of [10, 50]) {
        // A process of its own per batch size: the system's table reads the setting once, at import.
        const out = spawnSync(
          process.execPath,
          ['--import', 'tsx', fileURLToPath(new URL('./fixtures/one-drain.ts', import.meta.url))],
          {
            env: { ...process.env, BENCH_DTM_BATCH: String(batch), DATABASE_URL: db.url },
            input: JSON.stringify({ system: 'dtm-batch', processes: 1, concurrency, jobs: JOBS }),
            encoding: 'utf8',
          },
        );
        const rate = Number(out.stdout.trim().split('\n').at(-1)); // NaN: it timed out
        const key = `${batch}|${concurrency}`;
        rates[key] = [...(rates[key] ?? []), rate];
        console.log(`commitBatch ${batch} at ${concurrency}: ${Math.round(rate)}/s ${out.stderr}`);
      }
} finally {
  await db.stop();
}
const lines = [
  `# DTM commitBatch trial (${new Date().toISOString()})`,
  '',
  `Drains of ${JOBS} no-op slots, 1 process, embedded PostgreSQL with fsync and synchronous_commit on, ${ROUNDS} alternating rounds; jobs/s between 10% and 90%, median (min–max). Load average at the start ${load.load1}.`,
  '',
  '| commitBatch | 16 at once | 64 at once |',
  '|---:|---:|---:|',
  ...[10, 50].map((batch) => {
    const cell = (c: number) => {
      const all = rates[`${batch}|${c}`] ?? [];
      const s = spread(all.filter(Number.isFinite));
      const stalled = all.length - s.n;
      return `${s.n > 0 ? `${Math.round(s.median)} (${Math.round(s.min)}–${Math.round(s.max)})` : ''}${stalled > 0 ? ` ${stalled} of ${all.length} did not finish in 120 s` : ''}`;
    };
    return `| ${batch} | ${cell(16)} | ${cell(64)} |`;
  }),
  '',
];
await writeFile(new URL('./results/commit-batch-trial.md', import.meta.url), lines.join('\n'));
console.log(lines.join('\n'));
