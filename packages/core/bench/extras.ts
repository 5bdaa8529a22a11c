// pnpm bench:extras [latency] [memory] [poison] [compare]: the benchmarks beside the fair judge (bench/run.ts):
// re-queue → pickup latency, the worker's memory, a poison slot, and this build against an earlier one
// (DTM_BASE_CORE). Against one PostgreSQL (DATABASE_URL, else an embedded one of its own, fsync off); writes
// results/<the modes run>.json and .md. Benchmarks, not tests: targets are reported, not asserted.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '@dtm/dev-db';
import { pg, round } from './common.ts';
import { type Comparison, compareWithBase } from './compare.ts';
import { measureRequeueLatency } from './latency.ts';
import { measureWorkerRss } from './memory.ts';
import { measurePoisonSlot } from './poison.ts';
import { heading } from './report.ts';

const RESULTS = new URL('./results/', import.meta.url);
const only = process.argv.slice(2);
const wants = (name: string) => only.length === 0 || only.includes(name);
/** A checkout of an earlier commit to compare the worker with (`compare`), e.g. a git worktree of it. */
const baseCore = process.env.DTM_BASE_CORE;

const db = await openDatabase({
  dataDir: fileURLToPath(new URL(`../../../.data/bench-${randomBytes(4).toString('hex')}`, import.meta.url)),
  isThrowaway: true,
});
try {
  const client = new pg.Client(db.url);
  await client.connect();
  const { rows } = await client.query<{ version: string }>('SELECT version()');
  await client.end();
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    postgres: rows[0]?.version.split(' on ')[0] ?? 'unknown',
    postgresSource: db.isEmbedded ? 'embedded, loopback, fsync off' : 'DATABASE_URL',
  };
  console.log('machine:', machine);

  const latency = wants('latency') ? await measureRequeueLatency(db.url) : null;
  console.log('re-queue → pickup latency (ms):', latency);
  const memory = wants('memory') ? await measureWorkerRss(db.url) : null;
  console.log('worker RSS:', memory);
  const comparison = wants('compare') && baseCore ? await compareWithBase(db.url, baseCore) : null;
  console.log('against the base build:', comparison?.median ?? null);
  const poison = wants('poison')
    ? { exit: await measurePoisonSlot(db.url, 'exit'), sigkill: await measurePoisonSlot(db.url, 'sigkill') }
    : null;
  console.log('poison slot:', poison);

  const targets = {
    're-queue p50 ≤ 10 ms': latency ? latency.p50 <= 10 : null,
    're-queue p99 ≤ 50 ms': latency ? latency.p99 <= 50 : null,
    'worker throughput at 16 ≥ 0.95× the base build (same run)': comparison
      ? comparison.median.worker.current >= 0.95 * comparison.median.worker.base
      : null,
    'a poison slot: ≤ 8 attempts in its first minute (3 respawning processes)': poison
      ? poison.exit.attempts <= 8 && poison.sigkill.attempts <= 8
      : null,
    'RSS at concurrency 16 ≤ 120 MB': memory ? memory.peakRssMb <= 120 : null,
  };
  const report = {
    at: new Date().toISOString(),
    machine,
    latency,
    memory,
    comparison,
    poison,
    targets,
  };
  // A run of some of the benchmarks writes its own files, and leaves the latest full run's as they are.
  const file = only.length === 0 ? 'extras' : only.join('-');
  await writeFile(new URL(`${file}.json`, RESULTS), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(new URL(`${file}.md`, RESULTS), toMarkdown(report));
  console.log(toMarkdown(report));
} finally {
  await db.stop();
}

function toMarkdown(report: {
  at: string;
  machine: Record<string, string | number>;
  latency: { p50: number; p99: number; max: number } | null;
  memory: { peakRssMb: number } | null;
  comparison: Comparison | null;
  poison: Record<'exit' | 'sigkill', { attempts: number; atMs: number[]; failedAttempts: number }> | null;
  targets: Record<string, boolean | null>;
}): string {
  const lines = heading(report.at, report.machine);
  const c = report.comparison;
  if (c) {
    const ratio = (a: number, b: number) => `${round(a / b, 3)}×`;
    lines.push(
      `## Against the base build (${c.base}), ${c.concurrency} at once, ${c.slots.toLocaleString('en')} no-op slots, median of ${c.rounds} alternating rounds`,
      '',
      '| | this build | base | ratio |',
      '|---|---:|---:|---:|',
      `| worker, slots/s | ${Math.round(c.median.worker.current)} | ${Math.round(c.median.worker.base)} | ${ratio(c.median.worker.current, c.median.worker.base)} |`,
      `| raw SQL floor, slots/s | ${Math.round(c.median.floor.current)} | ${Math.round(c.median.floor.base)} | ${ratio(c.median.floor.current, c.median.floor.base)} |`,
      '',
      `Rounds (worker): this build ${c.worker.current.map(Math.round).join(' / ')}; base ${c.worker.base.map(Math.round).join(' / ')}.`,
      `Rounds (floor): this build ${c.floor.current.map(Math.round).join(' / ')}; base ${c.floor.base.map(Math.round).join(' / ')}.`,
      'The floors run each build’s own statements in the worker’s round trip per slot; this build’s lock also',
      'reads the status of the row’s last locker (an abandoned attempt is one whose transaction aborted).',
      '',
    );
  }
  if (report.poison) {
    lines.push(
      '## A slot whose work kills its worker process, 3 processes respawned at once',
      '',
      '| how it dies | attempts in the first minute | at (ms after the first) | failed attempts recorded |',
      '|---|---:|---|---:|',
    );
    for (const [mode, p] of Object.entries(report.poison))
      lines.push(`| ${mode} | ${p.attempts} | ${p.atMs.join(', ')} | ${p.failedAttempts} |`);
    lines.push('', 'Target: at most 8 with the default backoff (1 s, doubling).', '');
  }
  lines.push('## Latency, memory', '', '| measure | value | target |', '|---|---:|---:|');
  if (report.latency) {
    lines.push(`| re-queue → pickup p50 | ${round(report.latency.p50, 2)} ms | ≤ 10 ms |`);
    lines.push(`| re-queue → pickup p99 | ${round(report.latency.p99, 2)} ms | ≤ 50 ms |`);
  }
  if (report.memory)
    lines.push(`| worker peak RSS at concurrency 16 | ${round(report.memory.peakRssMb)} MB | ≤ 120 MB |`);
  lines.push('', '## Targets', '');
  for (const [target, met] of Object.entries(report.targets))
    lines.push(`- ${met === null ? 'not run' : met ? 'met' : 'MISSED'}: ${target}`);
  return `${lines.join('\n')}\n`;
}
