// What a benchmark run found, the issue's targets judged from it, and the Markdown of results/latest.md.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { round, type Spread } from './common.ts';
import type { LongSlotsOptions, LongSlotsRow } from './long-slots.ts';
import type { ReleaseOptions, ReleaseRow } from './release.ts';
import type { SteadyOptions, SteadyRow } from './steady.ts';
import { SYSTEMS, type SystemId } from './systems.ts';
import type { Cell, ThroughputOptions, ThroughputResult } from './throughput.ts';

export interface BenchOptions {
  throughput: ThroughputOptions;
  /** The fsync-off table: its rounds and jobs (the other settings as the durable one); 0 rounds: not run. */
  fsyncOff: { rounds: number; jobs: number };
  steady: SteadyOptions;
  long: LongSlotsOptions;
  release: ReleaseOptions;
}

export interface ServerRun {
  /** How the server was started, and what it reports. */
  source: string;
  settings: Record<string, string>;
  throughput: ThroughputResult;
}

export interface BenchReport {
  at: string;
  machine: Record<string, string | number>;
  /** 1-minute load averages, sampled at the start of each part and at the end. */
  load: Array<{ part: string; load1: number; load5: number }>;
  versions: Record<string, string>;
  options: BenchOptions;
  durable: ServerRun | null;
  fsyncOff: ServerRun | null;
  steady: SteadyRow[] | null;
  long: { server: Record<string, string>; rows: LongSlotsRow[] } | null;
  release: ReleaseRow[] | null;
  notes: string[];
}

export function machineInfo(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
  };
}

export function loadSample(part: string): { part: string; load1: number; load5: number } {
  const [load1 = 0, load5 = 0] = loadavg();
  return { part, load1: round(load1, 2), load5: round(load5, 2) };
}

/** Installed versions of DTM, its peers and pg, from their package.json files. */
export function versions(): Record<string, string> {
  const read = (path: string) =>
    (JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string }).version;
  return {
    '@dtm/core': read('../package.json'),
    'pg-boss': read('../node_modules/pg-boss/package.json'),
    'graphile-worker': read('../node_modules/graphile-worker/package.json'),
    pg: read('../node_modules/pg/package.json'),
  };
}

const PER_JOB_PEERS: SystemId[] = ['graphile', 'pgboss', 'pgboss-tx'];
const BATCHED_PEERS: SystemId[] = ['graphile-batch', 'pgboss-batch'];

function findCell(result: ThroughputResult, system: SystemId, processes: number, concurrency: number) {
  return result.cells.find(
    (cell) => cell.system === system && cell.processes === processes && cell.concurrency === concurrency,
  );
}

/** DTM's row against the faster of `peers`, per (processes, concurrency). */
function against(
  result: ThroughputResult,
  dtm: SystemId,
  peers: SystemId[],
  concurrencies: number[],
): Array<{
  processes: number;
  concurrency: number;
  ratio: number;
  dtm: number;
  peer: SystemId;
  peerRate: number;
}> {
  const out = [];
  for (const processes of result.options.processes)
    for (const concurrency of concurrencies) {
      const mine = findCell(result, dtm, processes, concurrency)?.rate.median;
      const rivals = peers
        .map((peer) => ({ peer, rate: findCell(result, peer, processes, concurrency)?.rate.median }))
        .filter(
          (r): r is { peer: SystemId; rate: number } => r.rate !== undefined && Number.isFinite(r.rate),
        );
      const best = rivals.sort((a, b) => b.rate - a.rate)[0];
      if (mine === undefined || !best) continue;
      out.push({
        processes,
        concurrency,
        ratio: mine / best.rate,
        dtm: mine,
        peer: best.peer,
        peerRate: best.rate,
      });
    }
  return out;
}

export interface Target {
  target: string;
  status: 'met' | 'MISSED' | 'not run';
  detail: string;
}

/** The issue's targets, each judged from the durable (fsync on) run. */
export function judgeTargets(report: BenchReport): Target[] {
  const result = report.durable?.throughput;
  const targets: Target[] = [];
  const judge = (target: string, rows: ReturnType<typeof against>, min: number) => {
    if (rows.length === 0) {
      targets.push({ target, status: 'not run', detail: '' });
      return;
    }
    const detail = rows
      .map(
        (r) =>
          `${r.processes}p×${r.concurrency}: ${round(r.ratio, 2)}× (${Math.round(r.dtm)} vs ${SYSTEMS[r.peer].label} ${Math.round(r.peerRate)})`,
      )
      .join('; ');
    const isMet = rows.every((r) => r.ratio >= min);
    targets.push({
      target,
      status: isMet ? 'met' : 'MISSED',
      detail: isMet ? detail : `${detail}. ${why(rows)}`,
    });
  };
  /** The measured part of why: what the server wrote per job, DTM's row against the faster peer's. */
  const why = (rows: ReturnType<typeof against>) => {
    const worst = [...rows].sort((a, b) => a.ratio - b.ratio)[0];
    if (!result || !worst) return '';
    const dtmCell = result.cells.find(
      (c) =>
        c.processes === worst.processes &&
        c.concurrency === worst.concurrency &&
        (c.system === 'dtm' || c.system === 'dtm-batch') &&
        Math.abs(c.rate.median - worst.dtm) < 1e-6,
    );
    const peerCell = findCell(result, worst.peer, worst.processes, worst.concurrency);
    if (!dtmCell || !peerCell) return '';
    const perJob = (cell: Cell) =>
      `${Math.round(cell.walBytesPerJob.median)} B of WAL in ${round(cell.writesPerJob.median, 2)} writing transactions per job`;
    return `Measured at ${worst.processes}p×${worst.concurrency}: DTM ${perJob(dtmCell)}, ${SYSTEMS[worst.peer].label} ${perJob(peerCell)}`;
  };
  const concurrencies = (result?.options.concurrencies ?? []).filter((c) => c >= 16);
  judge(
    'Per-slot commits: DTM ≥ 1.0× the faster peer in per-job mode at 16 and 64, 1 and 4 processes',
    result ? against(result, 'dtm', PER_JOB_PEERS, concurrencies) : [],
    1,
  );
  judge(
    'Commit batching: DTM ≥ 1.0× the faster peer in batched mode at 16 and 64',
    result ? against(result, 'dtm-batch', BATCHED_PEERS, concurrencies) : [],
    1,
  );
  judge(
    'DTM ÷ its raw SQL floor ≥ 0.85 at 16',
    result
      ? against(
          result,
          'dtm',
          ['raw-floor'],
          concurrencies.filter((c) => c === 16),
        )
      : [],
    0.85,
  );
  const at80 = (report.steady ?? []).filter((row) => row.fraction === 0.8);
  const dtm80 = at80.find((row) => row.system === 'dtm');
  const peers80 = at80.filter((row) => PER_JOB_PEERS.includes(row.system)).sort((a, b) => a.p99 - b.p99);
  const best = peers80[0];
  if (!dtm80 || !best)
    targets.push({
      target: 'Steady load at 80%: DTM p99 ≤ the faster peer’s',
      status: 'not run',
      detail: '',
    });
  else
    targets.push({
      target: 'Steady load at 80%: DTM p99 start latency ≤ the faster peer’s',
      status: dtm80.p99 <= best.p99 ? 'met' : 'MISSED',
      detail: `DTM ${dtm80.p99} ms at ${Math.round(dtm80.offered)}/s offered (it started ${Math.round(dtm80.achieved)}/s${
        dtm80.achieved < 0.95 * dtm80.offered ? ': it fell behind' : ''
      }); ${SYSTEMS[best.system].label} ${best.p99} ms at ${Math.round(best.offered)}/s offered (started ${Math.round(best.achieved)}/s). Each is offered a fraction of its own maximum, so the absolute loads differ`,
    });
  return targets;
}

const fmtSpread = (s: Spread, digits = 0) =>
  `${round(s.median, digits).toLocaleString('en')} (${round(s.min, digits).toLocaleString('en')}–${round(s.max, digits).toLocaleString('en')})`;

function throughputTable(run: ServerRun, title: string): string[] {
  const { options, cells } = run.throughput;
  const columns = options.processes.flatMap((p) => options.concurrencies.map((c) => ({ p, c })));
  const lines = [
    `## ${title}`,
    '',
    `Server: ${run.source}; ${Object.entries(run.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
    '',
    `Jobs per second between 10% and 90% of a drain of ${options.jobs.toLocaleString('en')} no-op jobs; median (min–max) of ${options.rounds} rounds, every cell once per round in a random order. Completion: the parent counts the unfinished rows of each system's table every ${options.pollMs} ms. A drain not done within ${Math.round(options.drainTimeoutMs / 1000)} s is stopped and counted as not finished (how far it got is in the JSON file).`,
    '',
    `| system | ${columns.map(({ p, c }) => `${p} proc × ${c}`).join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
  ];
  for (const system of options.systems) {
    const row = columns.map(({ p, c }) => {
      const cell: Cell | undefined = cells.find(
        (x) => x.system === system && x.processes === p && x.concurrency === c,
      );
      if (!cell) return '–';
      const timedOut =
        cell.timedOut > 0 ? ` **${cell.timedOut} of ${cell.rounds.length} did not finish**` : '';
      return cell.timedOut === cell.rounds.length ? timedOut.trim() : `${fmtSpread(cell.rate)}${timedOut}`;
    });
    lines.push(`| ${SYSTEMS[system].label} | ${row.join(' | ')} |`);
  }
  const dtmOver = (peers: SystemId[], dtm: SystemId) =>
    columns.map(({ p, c }) => {
      const mine = cells.find((x) => x.system === dtm && x.processes === p && x.concurrency === c)?.rate
        .median;
      const best = Math.max(
        ...peers
          .map(
            (peer) =>
              cells.find((x) => x.system === peer && x.processes === p && x.concurrency === c)?.rate.median ??
              Number.NaN,
          )
          .filter(Number.isFinite),
      );
      return mine === undefined || !Number.isFinite(best) ? '–' : `${round(mine / best, 2)}×`;
    });
  lines.push(
    `| DTM per slot ÷ faster per-job peer | ${dtmOver(PER_JOB_PEERS, 'dtm').join(' | ')} |`,
    `| DTM batched ÷ faster batched peer | ${dtmOver(BATCHED_PEERS, 'dtm-batch').join(' | ')} |`,
    `| DTM per slot ÷ raw SQL floor | ${dtmOver(['raw-floor'], 'dtm').join(' | ')} |`,
    '',
    `What the server wrote per job (median over the rounds, at ${columns[0]?.p ?? 1} process × ${columns.at(-1)?.c ?? 16}): ${options.systems
      .map((system) => {
        const cell = cells.find(
          (x) => x.system === system && x.processes === columns[0]?.p && x.concurrency === columns.at(-1)?.c,
        );
        return cell
          ? `${SYSTEMS[system].label} ${Math.round(cell.walBytesPerJob.median)} B of WAL in ${round(cell.writesPerJob.median, 2)} writing transactions`
          : '';
      })
      .filter(Boolean)
      .join('; ')}.`,
    '',
    `Whole drains (GO → nothing left), median: ${cells
      .map(
        (cell) =>
          `${cell.system} ${cell.processes}p×${cell.concurrency} ${Math.round(cell.drainRate.median)}/s`,
      )
      .join('; ')}.`,
    '',
  );
  return lines;
}

/** The report's first lines: its title and the machine it ran on. */
export function heading(at: string, machine: object): string[] {
  const described = Object.entries(machine)
    .map(([k, v]) => `${k} ${v}`)
    .join('; ');
  return [`# DTM benchmarks (${at})`, '', `Machine: ${described}.`, ''];
}

export function toMarkdown(report: BenchReport): string {
  const lines = heading(report.at, report.machine);
  lines.push(
    `Load average (1 min / 5 min) at the start of each part: ${report.load
      .map((l) => `${l.part} ${l.load1} / ${l.load5}`)
      .join(
        '; ',
      )}. The machine has ${report.machine.cores} cores and other work ran beside this run: compare rows of one run, not runs.`,
    '',
    `Versions: ${Object.entries(report.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
  );
  for (const note of report.notes) lines.push(`- ${note}`);
  if (report.notes.length > 0) lines.push('');
  lines.push('## Systems, their settings and what their completion means', '');
  lines.push('| row | settings | semantics |', '|---|---|---|');
  const shown = report.durable?.throughput.options.systems ?? report.options.throughput.systems;
  for (const id of shown) {
    const s = SYSTEMS[id];
    lines.push(`| ${s.label} | ${s.settings} | ${s.semantics} |`);
  }
  lines.push(
    '',
    'Every system runs in worker processes of its own (`bench/fixtures/system-worker.ts`, 1 or 4 of them, the total concurrency split evenly), started and connected before the clock starts. Each job is one no-op; the peers’ jobs carry a unique key per slot (pg-boss `singletonKey`, graphile-worker `job_key`), as a slot is unique in DTM.',
    '',
  );
  if (report.durable)
    lines.push(
      ...throughputTable(report.durable, 'Throughput, durable commits (fsync on, synchronous_commit on)'),
    );
  if (report.fsyncOff) lines.push(...throughputTable(report.fsyncOff, 'Throughput, fsync off (not durable)'));
  if (report.steady) {
    const o = report.options.steady;
    lines.push(
      '## Steady load: enqueue (or slot due) → handler start',
      '',
      `Offered for ${o.seconds} s at a fraction of each system's own maximum (its median at ${o.processes} process × ${o.concurrency}, durable table), ${o.processes} process, concurrency ${o.concurrency}; the producer enqueues what is due every ${o.tickMs} ms in one statement. Latency: handler start (worker clock) − the row's creation time (database clock, same machine), in ms (the timestamps are whole milliseconds).`,
      '',
      '| system | load | offered/s | achieved/s | p50 | p95 | p99 | max | jobs |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const row of report.steady)
      lines.push(
        `| ${SYSTEMS[row.system].label} | ${Math.round(row.fraction * 100)}% | ${Math.round(row.offered)} | ${Math.round(row.achieved)} | ${row.p50} | ${row.p95} | ${row.p99} | ${row.max} | ${row.samples} |`,
      );
    lines.push('');
  }
  if (report.long) {
    const o = report.options.long;
    lines.push(
      '## Long slots beside short ones (DTM)',
      '',
      `L slots of ${o.workMs / 1000} s work each held at once (each lane takes the next long slot as one ends), beside a worker draining short no-op slots at ${o.shortConcurrency} at once, for ${o.seconds} s; sampled every ${o.sampleMs} ms. Server: ${Object.entries(
        report.long.server,
      )
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}.`,
      '',
      '| long slots | short slots/s | ÷ no long slots | peak connections (of max) | oldest transaction, s | dead tuples in tasks (end / peak) | n_dead_tup reported (end) | tasks table, MB | long slots completed |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    const baseline = report.long.rows.find((row) => row.longSlots === 0)?.shortRate ?? Number.NaN;
    for (const row of report.long.rows)
      lines.push(
        `| ${row.longSlots} | ${Math.round(row.shortRate)} | ${round(row.shortRate / baseline, 2)}× | ${row.connections} (${row.maxConnections}) | ${row.oldestTransactionSeconds} | ${row.deadTuplesEnd} / ${row.deadTuplesPeak} | ${row.reportedDeadTuplesEnd} | ${row.tableMb} | ${row.longCompleted} |`,
      );
    lines.push(
      '',
      `Dead tuples counted with ${report.long.rows[0]?.deadTuplesCounted ?? '–'}. The statistics’ n_dead_tup (what autovacuum reads) lags far behind: a worker’s lane is always inside a transaction, and a backend reports its statistics only when it is idle outside one.`,
      '',
    );
  }
  if (report.release) {
    const o = report.options.release;
    lines.push(
      '## Release: holder gone → slot free → another worker holds it',
      '',
      `Settings: ${o.connectionLoss ? `connectionLoss ${JSON.stringify(o.connectionLoss)}` : 'the defaults (connectionLoss holderAbortMs 15,000, serverReleaseMs 45,000; retry base 1 s)'}; taker pollInterval ${o.takerPollMs ?? '5,000 (default)'} ms. Median (min–max) in ms.`,
      '',
      '| how the holder went | rounds | lock free | held again | who took it |',
      '|---|---:|---:|---:|---|',
    );
    for (const row of report.release)
      lines.push(
        `| ${row.how} | ${row.freed.n} | ${fmtSpread(row.freed, 1)} | ${fmtSpread(row.taken, 1)} | ${[...new Set(row.takers)].join(', ')} |`,
      );
    lines.push('');
  }
  lines.push('## Targets (issue 18; durable table, this run)', '');
  for (const target of judgeTargets(report))
    lines.push(`- **${target.status}**: ${target.target}${target.detail ? `. ${target.detail}` : ''}`);
  return `${lines.join('\n')}\n`;
}
