// A smoke run of every mode of the benchmark (bench/run.ts) with tiny sizes against the test database: each
// produces sane numbers, and the report renders them. Not a measurement: the full run is `pnpm bench`.
import { describe, expect, it } from 'vitest';
import { measureLongSlots } from '../bench/long-slots.ts';
import { lostHostUnavailable, measureRelease } from '../bench/release.ts';
import { type BenchOptions, judgeTargets, toMarkdown } from '../bench/report.ts';
import { emptyReport } from '../bench/run.ts';
import { measureSteady } from '../bench/steady.ts';
import { SYSTEMS, type SystemId } from '../bench/systems.ts';
import { measureThroughput } from '../bench/throughput.ts';
import { databaseUrl } from './helpers.ts';

const ALL = Object.keys(SYSTEMS) as SystemId[];
const options: BenchOptions = {
  // Two processes: the multi-process path (one process runs the same code with one child).
  throughput: {
    jobs: 200,
    rounds: 1,
    concurrencies: [4],
    processes: [2],
    systems: ALL,
    pollMs: 50,
    drainTimeoutMs: 60_000,
  },
  fsyncOff: { rounds: 0, jobs: 0 },
  steady: {
    systems: ['dtm', 'graphile', 'pgboss', 'pgboss-tx'],
    fractions: [0.8],
    seconds: 1,
    processes: 1,
    concurrency: 4,
    tickMs: 10,
  },
  long: { longSlots: [3], workMs: 600, seconds: 2, shortConcurrency: 4, sampleMs: 250 },
  release: {
    sigkillRounds: 1,
    lostHostRounds: 1,
    connectionLoss: { holderAbortMs: 1_500, serverReleaseMs: 3_000 },
    takerPollMs: 200,
  },
};
const report = emptyReport(options);
const noLog = () => {};

describe('the benchmark, each mode with tiny sizes', () => {
  it('throughput: every system drains its jobs in two processes, each at a finite positive rate', async () => {
    const result = await measureThroughput(databaseUrl, options.throughput, noLog);
    expect(result.cells).toHaveLength(ALL.length);
    for (const cell of result.cells) {
      expect(cell.rounds, `${cell.system} ${cell.processes}p`).toHaveLength(1);
      expect(cell.timedOut, `${cell.system} ${cell.processes}p`).toBe(0);
      expect(cell.rate.median, `${cell.system} ${cell.processes}p`).toBeGreaterThan(0);
      expect(Number.isFinite(cell.rate.median), `${cell.system} ${cell.processes}p`).toBe(true);
      expect(cell.drainRate.median).toBeGreaterThan(0);
      expect(cell.rounds[0]?.jobs).toBe(options.throughput.jobs);
    }
    report.durable = { source: 'the test database', settings: {}, throughput: result };
  }, 150_000);

  it('steady load: every system starts what it is offered, with ordered percentiles', async () => {
    const maxRates = { dtm: 100, graphile: 100, pgboss: 100, 'pgboss-tx': 100 };
    const rows = await measureSteady(databaseUrl, options.steady, maxRates, noLog);
    expect(rows.map((row) => row.system)).toEqual(options.steady.systems);
    for (const row of rows) {
      expect(row.samples, row.system).toBeGreaterThanOrEqual(60);
      expect(row.offered).toBeGreaterThan(60);
      expect(row.p50).toBeGreaterThanOrEqual(0);
      expect(row.p50).toBeLessThanOrEqual(row.p95);
      expect(row.p95).toBeLessThanOrEqual(row.p99);
      expect(row.p99).toBeLessThanOrEqual(row.max);
      expect(row.max).toBeLessThan(10_000);
    }
    report.steady = rows;
  }, 60_000);

  it('long slots: short slots keep flowing beside held long ones, whose transactions and connections show', async () => {
    const rows = await measureLongSlots(databaseUrl, options.long, noLog);
    const [baseline, withLong] = rows;
    expect(rows.map((row) => row.longSlots)).toEqual([0, 3]);
    expect(baseline?.shortRate).toBeGreaterThan(0);
    expect(withLong?.shortRate).toBeGreaterThan(0);
    expect(withLong?.connections).toBeGreaterThan((baseline?.connections ?? 0) + 2);
    expect(withLong?.oldestTransactionSeconds).toBeGreaterThan(0.2);
    expect(withLong?.longCompleted).toBeGreaterThanOrEqual(3);
    report.long = { server: {}, rows };
  }, 60_000);

  it('release: a SIGKILLed holder frees its slot at once, a cut-off one only after its connection is given up', async () => {
    const rows = await measureRelease(databaseUrl, options.release, noLog);
    const killed = rows.find((row) => row.how === 'SIGKILL');
    expect(killed?.freed.median).toBeGreaterThan(0);
    expect(killed?.freed.median).toBeLessThan(5_000);
    expect(killed?.taken.median).toBeGreaterThanOrEqual(killed?.freed.median ?? 0);
    if ((await lostHostUnavailable()) === null) {
      const lost = rows.find((row) => row.how !== 'SIGKILL');
      // Nothing closes the connection: the server frees the lock only once its keepalives give up.
      expect(lost?.freed.median).toBeGreaterThan(1_000);
      expect(lost?.taken.median).toBeGreaterThanOrEqual(lost?.freed.median ?? 0);
    }
    report.release = rows;
  }, 60_000);

  it('the report renders every part and judges every target', () => {
    const markdown = toMarkdown(report);
    for (const heading of [
      '## Throughput, durable commits',
      '## Steady load',
      '## Long slots',
      '## Release',
      '## Targets',
    ])
      expect(markdown).toContain(heading);
    for (const system of ALL) expect(markdown).toContain(SYSTEMS[system].label);
    const targets = judgeTargets(report);
    expect(targets).toHaveLength(4);
    // Concurrency 4 only: the per-concurrency targets (16 and 64) are not run; the steady one is judged.
    expect(targets.at(-1)?.status).not.toBe('not run');
  });
});
