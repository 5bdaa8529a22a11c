// pnpm bench [throughput] [fsync-off] [steady] [long] [release]: the fair judge of issue 18. DTM against
// graphile-worker and pg-boss at their current versions and best settings (and in their per-job modes), with
// durable commits; fsync off as a second table; steady-load latency; long slots; release after a killed
// process and after a lost host. Writes results/latest.json and results/latest.md (results/<modes>.* when only
// some modes run). Benchmarks, not tests: targets are reported, not asserted.
//
// Without DATABASE_URL it starts embedded PostgreSQL servers of its own: one with fsync and synchronous_commit
// on (every part), one with fsync off (the second throughput table). With DATABASE_URL everything runs on that
// server, with the settings it reports, and the fsync-off table is not run (the server's settings are not ours
// to change). Sizes come from the environment (defaults: the full run):
//   BENCH_JOBS (100000) jobs per drain; BENCH_ROUNDS (5); BENCH_CONCURRENCIES (16,64); BENCH_PROCESSES (1,4);
//   BENCH_SYSTEMS (all); BENCH_DRAIN_TIMEOUT_S (600); BENCH_FSYNC_OFF_ROUNDS (BENCH_ROUNDS), BENCH_FSYNC_OFF_JOBS (BENCH_JOBS);
//   BENCH_STEADY_SECONDS (30); BENCH_LONG_SLOTS (64,256), BENCH_LONG_WORK_MS (30000), BENCH_LONG_SECONDS (600);
//   BENCH_SIGKILL_ROUNDS (10), BENCH_LOST_HOST_ROUNDS (3); BENCH_DTM_BATCH (50), the batched DTM row.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type DevDatabase, openDatabase } from '@dtm/dev-db';
import { pg, serverSettings } from './common.ts';
import { measureLongSlots } from './long-slots.ts';
import { measureRelease } from './release.ts';
import {
  type BenchOptions,
  type BenchReport,
  judgeTargets,
  loadSample,
  machineInfo,
  type ServerRun,
  toMarkdown,
  versions,
} from './report.ts';
import { measureSteady } from './steady.ts';
import type { SystemId } from './systems.ts';
import { drain, measureThroughput } from './throughput.ts';

const RESULTS = new URL('./results/', import.meta.url);
const MODES = ['throughput', 'fsync-off', 'steady', 'long', 'release'] as const;
type Mode = (typeof MODES)[number];
const ALL_SYSTEMS: SystemId[] = [
  'dtm',
  'dtm-batch',
  'raw-floor',
  'graphile',
  'graphile-batch',
  'pgboss',
  'pgboss-batch',
  'pgboss-tx',
];

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const list = (name: string, fallback: number[]) =>
  process.env[name] ? (process.env[name] ?? '').split(',').map(Number) : fallback;

/** The options of a full run, each overridable from the environment. */
export function optionsFromEnvironment(): BenchOptions {
  const jobs = env('BENCH_JOBS', 100_000);
  const rounds = env('BENCH_ROUNDS', 5);
  return {
    throughput: {
      jobs,
      rounds,
      concurrencies: list('BENCH_CONCURRENCIES', [16, 64]),
      processes: list('BENCH_PROCESSES', [1, 4]),
      systems: process.env.BENCH_SYSTEMS ? (process.env.BENCH_SYSTEMS.split(',') as SystemId[]) : ALL_SYSTEMS,
      pollMs: 100,
      drainTimeoutMs: env('BENCH_DRAIN_TIMEOUT_S', 600) * 1000,
    },
    fsyncOff: { rounds: env('BENCH_FSYNC_OFF_ROUNDS', rounds), jobs: env('BENCH_FSYNC_OFF_JOBS', jobs) },
    steady: {
      systems: ['dtm', 'graphile', 'pgboss', 'pgboss-tx'],
      fractions: [0.5, 0.8],
      seconds: env('BENCH_STEADY_SECONDS', 30),
      processes: 1,
      concurrency: 16,
      tickMs: 10,
    },
    long: {
      longSlots: list('BENCH_LONG_SLOTS', [64, 256]),
      workMs: env('BENCH_LONG_WORK_MS', 30_000),
      seconds: env('BENCH_LONG_SECONDS', 600),
      shortConcurrency: 16,
      sampleMs: 1_000,
    },
    release: {
      sigkillRounds: env('BENCH_SIGKILL_ROUNDS', 10),
      lostHostRounds: env('BENCH_LOST_HOST_ROUNDS', 3),
    },
  };
}

/** Runs `modes` (every part by default) with `options` against `url` (the durable server). */
export async function runParts(
  url: string,
  source: string,
  options: BenchOptions,
  modes: readonly Mode[],
  report: BenchReport,
  log: (line: string) => void = console.log,
  /** Called after each part (the full run saves what it has, so that a run cut short keeps its parts). */
  onPart: () => Promise<void> = async () => {},
): Promise<void> {
  const settings = await serverSettings(url);
  if (modes.includes('throughput')) {
    report.load.push(loadSample('throughput (durable)'));
    report.durable = {
      source,
      settings,
      throughput: await measureThroughput(url, options.throughput, log, async (partial) => {
        report.durable = { source, settings, throughput: partial };
        await onPart();
      }),
    };
    await onPart();
  }
  if (modes.includes('steady')) {
    report.load.push(loadSample('steady load'));
    const { processes, concurrency } = options.steady;
    const maxRates: Partial<Record<SystemId, number>> = {};
    for (const system of options.steady.systems) {
      const cell = report.durable?.throughput.cells.find(
        (c) => c.system === system && c.processes === processes && c.concurrency === concurrency,
      );
      // Without a throughput table of this run, one drain measures the maximum.
      maxRates[system] =
        cell?.rate.median ??
        (await drain(url, system, processes, concurrency, options.throughput.jobs, options.throughput.pollMs))
          .rate;
    }
    report.steady = await measureSteady(url, options.steady, maxRates, log);
    await onPart();
  }
  if (modes.includes('long')) {
    report.load.push(loadSample('long slots'));
    report.long = { server: settings, rows: await measureLongSlots(url, options.long, log) };
    await onPart();
  }
  if (modes.includes('release')) {
    report.load.push(loadSample('release'));
    report.release = await measureRelease(url, options.release, log);
    await onPart();
  }
}

export function emptyReport(options: BenchOptions): BenchReport {
  return {
    at: new Date().toISOString(),
    machine: machineInfo(),
    load: [],
    versions: versions(),
    options,
    durable: null,
    fsyncOff: null,
    steady: null,
    long: null,
    release: null,
    notes: [],
  };
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  for (const mode of asked)
    if (!MODES.includes(mode as Mode)) throw new Error(`unknown mode ${mode}; modes: ${MODES.join(', ')}`);
  const modes: readonly Mode[] = asked.length === 0 ? MODES : (asked as Mode[]);
  const options = optionsFromEnvironment();
  const report = emptyReport(options);
  const file = asked.length === 0 ? 'latest' : asked.join('-');
  if (options.throughput.jobs < 100_000)
    report.notes.push(
      `Drains of ${options.throughput.jobs.toLocaleString('en')} jobs, below the issue's 100,000, so that the whole run fits the time it had; the sizes of every part are in the JSON file beside this one (options).`,
    );
  const save = async () => {
    const json = { ...report, targets: judgeTargets(report) };
    await writeFile(new URL(`${file}.json`, RESULTS), `${JSON.stringify(json, null, 2)}\n`);
    await writeFile(new URL(`${file}.md`, RESULTS), toMarkdown(report));
  };
  const dataDir = (what: string) =>
    fileURLToPath(new URL(`../../../.data/bench-${what}-${randomBytes(4).toString('hex')}`, import.meta.url));
  const durable: DevDatabase = await openDatabase({
    dataDir: dataDir('durable'),
    isThrowaway: true,
    settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' },
  });
  const source = durable.isEmbedded
    ? 'embedded PostgreSQL started by the bench with fsync=on, synchronous_commit=on, on this machine’s disk, over loopback'
    : 'DATABASE_URL (its own settings)';
  try {
    if (durable.isEmbedded) {
      // Dead tuples counted as they are (bench/long-slots.ts); the embedded server is ours.
      const client = new pg.Client(durable.url);
      await client.connect();
      await client.query('CREATE EXTENSION IF NOT EXISTS pgstattuple').catch(() => {});
      await client.end();
    }
    await runParts(durable.url, source, options, modes, report, console.log, save);
  } finally {
    await durable.stop();
  }
  if (modes.includes('fsync-off') && options.fsyncOff.rounds > 0) {
    if (!durable.isEmbedded) {
      report.notes.push(
        'The fsync-off table was not run: DATABASE_URL was set, and its settings are not ours to change.',
      );
    } else {
      const fast = await openDatabase({
        dataDir: dataDir('nosync'),
        isThrowaway: true,
        settings: { fsync: 'off' },
      });
      try {
        report.load.push(loadSample('throughput (fsync off)'));
        const run: ServerRun = {
          source: 'embedded PostgreSQL started by the bench with fsync=off, over loopback',
          settings: await serverSettings(fast.url),
          throughput: await measureThroughput(fast.url, {
            ...options.throughput,
            rounds: options.fsyncOff.rounds,
            jobs: options.fsyncOff.jobs,
          }),
        };
        report.fsyncOff = run;
        await save();
      } finally {
        await fast.stop();
      }
    }
  }
  report.load.push(loadSample('end'));
  await save();
  console.log(toMarkdown(report));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
