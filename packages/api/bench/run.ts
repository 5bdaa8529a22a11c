// API benchmark (`pnpm bench`): 1,000,000 task rows (200 names × 5,000 five-minute slots), the API running as
// its own process (`src/server.ts`) on loopback; /api/grid and /api/names latencies, grid throughput with and
// without 16 workers, the API's RSS, and EXPLAIN ANALYZE of the grid and names queries. Results go to
// bench/results/latest.json and latest.md. Targets are those of issue 4.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { TaskManager } from '@dtm/core';
import { openDatabase } from '@dtm/dev-db';
import pg from 'pg';
import { DEFAULT_LIMITS, type RouteDeps } from '../src/deps.ts';
import { EventHub } from '../src/event-hub.ts';
import { heldRowsSql } from '../src/read-only.ts';
import { readGridJson } from '../src/routes/grid.ts';
import { SlotIndex } from '../src/slot-index.ts';
import { buildServer, SERVER_BUNDLE } from './build-server.ts';

const PACKAGE_DIR = join(import.meta.dirname, '..');
const REPO_ROOT = join(PACKAGE_DIR, '..', '..');
const RESULTS_DIR = join(import.meta.dirname, 'results');
const SCHEMA = 'bench_api';
const NAMES = 200;
const SLOTS_PER_NAME = 5_000;
const INTERVAL_MS = 300_000;
const GRID_NAMES = 50;
const GRID_SLOTS = 2_016;
const TOKEN = `bench-${randomBytes(12).toString('hex')}`;
const WORKERS = 16;
const WORKER_WORK_MS = 20;
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 10);

const log = (message: string) => process.stdout.write(`${message}\n`);

interface Stats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

function stats(ms: number[]): Stats {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    n: sorted.length,
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    max: round(sorted.at(-1) ?? Number.NaN),
  };
}

async function timed(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return performance.now() - started;
}

/** Sequential requests after a warm-up: latency as one client sees it. */
async function latency(url: string, n: number, warmup = 10): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await timed(url);
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push(await timed(url));
  return stats(ms);
}

/** `concurrency` fetch loops for `seconds`: sustained requests per second, autocannon-style. */
async function load(
  url: string,
  concurrency: number,
  seconds: number,
): Promise<Stats & { rps: number; errors: number }> {
  const until = performance.now() + seconds * 1000;
  const ms: number[] = [];
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        try {
          ms.push(await timed(url));
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { ...stats(ms), rps: Math.round((ms.length / elapsed) * 10) / 10, errors };
}

function startApi(
  databaseUrl: string,
  extraEnv: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [SERVER_BUNDLE], {
    cwd: PACKAGE_DIR,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: '0',
      DTM_SCHEMA: SCHEMA,
      DTM_API_TOKEN: TOKEN,
      DTM_API_TOKEN_NAME: 'bench',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve({ child, url: match[1] });
    });
    child.once('exit', (code) => reject(new Error(`the API exited with ${code}: ${output}`)));
  });
}

function startWorkers(databaseUrl: string): Promise<ChildProcess> {
  const names = Array.from({ length: NAMES }, (_, i) => nameOf(i + 1)).join(',');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/workers.ts',
      databaseUrl,
      SCHEMA,
      names,
      String(WORKERS),
      String(WORKER_WORK_MS),
    ],
    { cwd: PACKAGE_DIR, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`the workers exited with ${code}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<string> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return output;
}

function nameOf(i: number): string {
  return `report-${String(i).padStart(3, '0')}`;
}

/**
 * An open `/api/events` stream, as a dashboard keeps one: while it is open the API hears every transition,
 * so each one invalidates the grids computed before it. Counts the change events it receives.
 */
function watchEvents(url: string): { changes: () => number; close: () => void } {
  const abort = new AbortController();
  let changes = 0;
  void (async () => {
    const response = await fetch(`${url}/api/events`, { signal: abort.signal });
    const decoder = new TextDecoder();
    for await (const chunk of response.body ?? []) {
      changes += (
        decoder.decode(chunk, { stream: true }).match(/^event: (transition|holders|resync)$/gm) ?? []
      ).length;
    }
  })().catch(() => {});
  return { changes: () => changes, close: () => abort.abort() };
}

async function rssOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^process_resident_memory_bytes (\d+)$/m.exec(text);
  return Math.round(Number(match?.[1] ?? Number.NaN) / 1024 / 1024);
}

// ---------------------------------------------------------------------------------------------------------

// BENCH_DATA_DIR keeps the database (and its seeded rows) between runs, for iterating on queries.
const keptDir = process.env.BENCH_DATA_DIR;
const dataDir = keptDir ?? join(REPO_ROOT, '.data', `bench-${randomBytes(4).toString('hex')}`);
const db = await openDatabase({ dataDir, isThrowaway: keptDir === undefined });
const admin = new pg.Client(db.url);
await admin.connect();
const children: ChildProcess[] = [];
try {
  const pgVersion =
    (await admin.query<{ v: string }>('SELECT current_setting($$server_version$$) AS v')).rows[0]?.v ?? '?';
  log(`PostgreSQL ${pgVersion} (${db.isEmbedded ? 'embedded' : 'DATABASE_URL'}); ${cpus().length} cores`);
  const isSeeded =
    keptDir !== undefined &&
    Number(
      (
        await admin.query<{ n: string }>(
          `SELECT CASE WHEN to_regclass('${SCHEMA}.tasks') IS NULL THEN 0 ELSE 1 END AS n`,
        )
      ).rows[0]?.n,
    ) === 1;
  if (!isSeeded) await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  const tm = new TaskManager({ connectionString: db.url, schema: SCHEMA, poolSize: 4 });
  await tm.migrate();

  // Slots end two hours ago, so the last 24 slots of the grid's week are MISSING (a gap at the end).
  const now = Date.now();
  const currentSlot = Math.floor(now / INTERVAL_MS) * INTERVAL_MS;
  const lastSlot = new Date(currentSlot - 24 * INTERVAL_MS);
  let seedMs = performance.now();
  if (isSeeded) {
    await admin.query(`TRUNCATE ${SCHEMA}.tasks, ${SCHEMA}.task_names`);
  }
  await admin.query(
    `INSERT INTO ${SCHEMA}.task_names (name, interval_ms)
     SELECT 'report-' || lpad(i::text, 3, '0'), ${INTERVAL_MS} FROM generate_series(1, ${NAMES}) i`,
  );
  // One INSERT … SELECT generate_series: 90% COMPLETE, 5% AVAILABLE, 2.5% failing, 2.5% SKIP.
  await admin.query(
    `INSERT INTO ${SCHEMA}.tasks (name, slot, state, created_by, completed_at, failed_attempts, message, next_attempt_at)
     SELECT 'report-' || lpad(i::text, 3, '0'),
            $1::timestamptz - s * interval '5 minutes',
            CASE WHEN h < 900 THEN 'COMPLETE' WHEN h < 975 THEN 'AVAILABLE' ELSE 'SKIP' END,
            'bench',
            CASE WHEN h < 900 OR h >= 975 THEN $1::timestamptz - s * interval '5 minutes' + interval '6 minutes' END,
            CASE WHEN h >= 950 AND h < 975 THEN 1 + h % 3 ELSE 0 END,
            CASE WHEN h < 900 THEN (h * 7) || ' rows'
                 WHEN h >= 950 AND h < 975 THEN 'source unreachable: connection timed out after 30 s'
                 WHEN h >= 975 THEN 'source down for maintenance' END,
            CASE WHEN h >= 950 AND h < 975 THEN now() + interval '1 hour' END
     FROM generate_series(1, ${NAMES}) i,
          generate_series(0, ${SLOTS_PER_NAME - 1}) s,
          LATERAL (SELECT abs(hashtext(i || '/' || s)) % 1000 AS h) r`,
    [lastSlot],
  );
  await admin.query(`VACUUM ANALYZE ${SCHEMA}.tasks`);
  await admin.query(`VACUUM ANALYZE ${SCHEMA}.task_names`);
  seedMs = performance.now() - seedMs;
  const rowCount = Number(
    (await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${SCHEMA}.tasks`)).rows[0]?.n ?? 0,
  );
  log(`seeded ${rowCount} rows in ${Math.round(seedMs)} ms`);

  const gridFrom = new Date(currentSlot + INTERVAL_MS - GRID_SLOTS * INTERVAL_MS);
  const gridTo = new Date(currentSlot + INTERVAL_MS);
  const gridNames = Array.from({ length: GRID_NAMES }, (_, i) => nameOf(i + 1)).join(',');
  const gridPath = (columns: number) =>
    `/api/grid?names=${gridNames}&from=${gridFrom.toISOString()}&to=${gridTo.toISOString()}&columns=${columns}`;

  // EXPLAIN ANALYZE of the exact queries the routes run; and how long the slot index takes to load.
  const silentLogger = { info: () => {}, warn: () => {}, error: () => {} };
  const slots = new SlotIndex(tm, silentLogger);
  const deps: RouteDeps = {
    tm,
    auth: { token: null },
    limits: DEFAULT_LIMITS,
    logger: silentLogger,
    events: new EventHub(tm, slots, silentLogger),
    slots,
    now: () => new Date(),
    schemaSql: `"${SCHEMA}"`,
  };
  const loadMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const index = new SlotIndex(tm, silentLogger);
    const started = performance.now();
    await index.read();
    loadMs.push(performance.now() - started);
    await index.close();
  }
  const indexLoad = stats(loadMs);
  log(`slot index: loads ${rowCount} rows in ${indexLoad.p50} ms (p50 of 3)`);
  let gridQuery: { text: string; values: unknown[] } | null = null;
  await readGridJson(
    deps,
    { names: gridNames.split(','), from: gridFrom, to: gridTo, columns: 200 },
    { onQuery: (text, values) => (gridQuery = { text, values }) },
  );
  // As on the API's own connections (src/database.ts).
  await admin.query('SET max_parallel_workers_per_gather = 0');
  const explain = async (text: string, values: unknown[]) =>
    (await admin.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, values)).rows
      .map((row) => row['QUERY PLAN'])
      .join('\n');
  const captured = gridQuery as { text: string; values: unknown[] } | null;
  const gridExplain = captured
    ? `-- the grid's one query per request beside the slot index: the live holders of the window\n${await explain(captured.text, captured.values)}`
    : 'not captured';
  await deps.slots.close();
  const namesExplain = `-- the names' one query per request beside the slot index: every live holder\n${await explain(heldRowsSql(`"${SCHEMA}"`), [])}`;
  log('\nEXPLAIN ANALYZE of the grid queries (50 names × 2,016 slots, columns=200):');
  log(gridExplain);
  log('\nEXPLAIN ANALYZE of the names queries:');
  log(namesExplain);

  // Baseline in the same run: the same rows fetched raw (no aggregation, no HTTP), and the HTTP floor.
  const rawMs: number[] = [];
  for (let i = 0; i < 30; i++) {
    const started = performance.now();
    await admin.query(
      `SELECT name, slot, state, failed_attempts FROM ${SCHEMA}.tasks
       WHERE name = ANY($1) AND slot >= $2 AND slot < $3`,
      [gridNames.split(','), gridFrom, gridTo],
    );
    if (i >= 5) rawMs.push(performance.now() - started);
  }
  const rawScan = stats(rawMs);
  await tm.close();

  // Two API processes, plain node on a bundle of src/server.ts (as in production: no TypeScript loader):
  // one never reuses a finished grid (each sequential request computes: the latency of the queries; only
  // concurrent requests share), one with the default 1 s reuse.
  await buildServer();
  const api = await startApi(db.url, { DTM_GRID_CACHE_MS: '0' });
  children.push(api.child);
  const cached = await startApi(db.url, {});
  children.push(cached.child);
  log(`\nAPI at ${api.url} (no grid reuse, pid ${api.child.pid}) and ${cached.url} (1 s grid reuse)`);
  // The first read of each API loads its slot index (timed above): measure the steady state after it.
  const firstRequest = { grid: await timed(`${api.url}${gridPath(200)}`) };
  await timed(`${cached.url}${gridPath(200)}`);
  log(`first grid request (loads the slot index): ${Math.round(firstRequest.grid)} ms`);
  const idle = {
    health: await latency(`${api.url}/api/health`, 200),
    grid200: await latency(`${api.url}${gridPath(200)}`, 200),
    grid2000: await latency(`${api.url}${gridPath(2000)}`, 50),
    names: await latency(`${api.url}/api/names`, 100),
  };
  log(
    `idle: grid(columns=200) p50 ${idle.grid200.p50} ms p99 ${idle.grid200.p99} ms; names p50 ${idle.names.p50} ms`,
  );
  const idleLoad = await load(`${api.url}${gridPath(200)}`, 16, LOAD_SECONDS);
  const idleLoadCached = await load(`${cached.url}${gridPath(200)}`, 16, LOAD_SECONDS);
  log(
    `idle: grid throughput ${idleLoad.rps} req/s without reuse, ${idleLoadCached.rps} req/s with the 1 s reuse (16 clients)`,
  );
  const rssIdle = await rssOf(api.url);

  const workers = await startWorkers(db.url);
  children.push(workers);
  // A dashboard's event stream on each API: every transition from now on invalidates earlier grids.
  const streams = [watchEvents(api.url), watchEvents(cached.url)];
  const busy = {
    grid200: await latency(`${api.url}${gridPath(200)}`, 200),
    names: await latency(`${api.url}/api/names`, 100),
  };
  const busyLoad = await load(`${api.url}${gridPath(200)}`, 16, LOAD_SECONDS);
  const busyLoadCached = await load(`${cached.url}${gridPath(200)}`, 16, LOAD_SECONDS);
  const rssAfterLoad = Math.max(await rssOf(api.url), await rssOf(cached.url));
  const changesHeard = streams[1]?.changes() ?? 0;
  for (const stream of streams) stream.close();
  const workerOutput = await stopChild(workers);
  const completedByWorkers = Number(/COMPLETED (\d+)/.exec(workerOutput)?.[1] ?? 0);
  log(
    `16 workers: grid p50 ${busy.grid200.p50} ms p99 ${busy.grid200.p99} ms; throughput ${busyLoad.rps} req/s without reuse, ${busyLoadCached.rps} req/s with it; ${changesHeard} changes announced; workers completed ${completedByWorkers} slots`,
  );
  await stopChild(api.child);
  await stopChild(cached.child);

  const targets = {
    gridP50Ms: { target: 50, actual: busy.grid200.p50, isMet: busy.grid200.p50 <= 50 },
    gridP99Ms: { target: 150, actual: busy.grid200.p99, isMet: busy.grid200.p99 <= 150 },
    namesP50Ms: { target: 100, actual: busy.names.p50, isMet: busy.names.p50 <= 100 },
    gridRps: { target: 200, actual: busyLoadCached.rps, isMet: busyLoadCached.rps >= 200 },
    gridRpsUncached: { target: 200, actual: busyLoad.rps, isMet: busyLoad.rps >= 200 },
    rssMb: { target: 150, actual: rssAfterLoad, isMet: rssAfterLoad <= 150 },
  };
  const results = {
    at: new Date().toISOString(),
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? '?',
      memoryGb: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      postgres: pgVersion,
      database: db.isEmbedded ? 'embedded (same machine)' : 'DATABASE_URL',
    },
    data: { rows: rowCount, names: NAMES, slotsPerName: SLOTS_PER_NAME, seedMs: Math.round(seedMs) },
    grid: { names: GRID_NAMES, slots: GRID_SLOTS, from: gridFrom.toISOString(), to: gridTo.toISOString() },
    baseline: {
      rawScanOfTheSameRows: rawScan,
      httpHealth: idle.health,
      gridOverRawScanP50: Math.round((idle.grid200.p50 / rawScan.p50) * 100) / 100,
      gridOverHealthP50: Math.round((idle.grid200.p50 / idle.health.p50) * 100) / 100,
      indexLoad,
    },
    idle: { ...idle, gridLoad: idleLoad, rssMb: rssIdle },
    withWorkers: {
      workers: WORKERS,
      workMs: WORKER_WORK_MS,
      completedByWorkers,
      changesHeard,
      ...busy,
      gridLoad: busyLoad,
      rssMb: rssAfterLoad,
    },
    targets,
    explain: { grid: gridExplain, names: namesExplain },
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  const row = (what: string, s: Stats) => `| ${what} | ${s.p50} | ${s.p99} | ${s.mean} | ${s.n} |`;
  const md = `# API benchmark

${results.at} · ${results.machine.cores} cores (${results.machine.cpu}) · Node ${results.machine.node} · PostgreSQL ${pgVersion} ${results.machine.database}

${rowCount.toLocaleString('en')} task rows (${NAMES} names × ${SLOTS_PER_NAME.toLocaleString('en')} five-minute slots), seeded in ${Math.round(seedMs)} ms. Grid: ${GRID_NAMES} names × ${GRID_SLOTS} slots (a week). The API runs as its own process on loopback (pool of 5), as in production: plain \`node\` on a bundle of \`src/server.ts\` (\`bench/build-server.ts\`, esbuild; no TypeScript loader, which alone adds about 35 MB of RSS). It runs twice: without reuse of finished grids (\`DTM_GRID_CACHE_MS=0\`: every sequential request computes, so these are the latencies of the work; concurrent identical requests still share one computation), and with the default 1 s reuse. While the workers run, an \`/api/events\` stream is open on each API, as a dashboard keeps one, so every transition invalidates the grids computed before it (${changesHeard} changes announced during the measurements). The clients are Node's \`fetch\`, which asks for gzip (\`Accept-Encoding: gzip, deflate\`), so grids travel gzipped (encoded once per computation) and are inflated by the client. The load generator, the workers and PostgreSQL share the same ${results.machine.cores} cores.

## Targets (issue 4), measured with ${WORKERS} workers running

| target | wanted | measured | met |
| --- | --- | --- | --- |
| /api/grid p50 (columns=200) | ≤ 50 ms | ${targets.gridP50Ms.actual} ms | ${targets.gridP50Ms.isMet ? 'yes' : 'NO'} |
| /api/grid p99 (columns=200) | ≤ 150 ms | ${targets.gridP99Ms.actual} ms | ${targets.gridP99Ms.isMet ? 'yes' : 'NO'} |
| /api/names p50 | ≤ 100 ms | ${targets.namesP50Ms.actual} ms | ${targets.namesP50Ms.isMet ? 'yes' : 'NO'} |
| grid requests/s, 16 clients, default (single flight + 1 s reuse), events streaming | ≥ 200 | ${targets.gridRps.actual} | ${targets.gridRps.isMet ? 'yes' : 'NO'} |
| grid requests/s, 16 clients, single flight only (no reuse), events streaming | ≥ 200 | ${targets.gridRpsUncached.actual} | ${targets.gridRpsUncached.isMet ? 'yes' : 'NO'} |
| API RSS after load | ≤ 150 MB | ${targets.rssMb.actual} MB | ${targets.rssMb.isMet ? 'yes' : 'NO'} |

## Latency (ms, sequential client)

| request | p50 | p99 | mean | n |
| --- | --- | --- | --- | --- |
${row('baseline: raw SELECT of the grid rows (no HTTP)', rawScan)}
${row('baseline: GET /api/health', idle.health)}
${row('idle: GET /api/grid columns=200', idle.grid200)}
${row('idle: GET /api/grid columns=2000', idle.grid2000)}
${row('idle: GET /api/names', idle.names)}
${row(`the slot index's load of all ${rowCount.toLocaleString('en')} rows (once per API start)`, indexLoad)}
${row(`${WORKERS} workers: GET /api/grid columns=200`, busy.grid200)}
${row(`${WORKERS} workers: GET /api/names`, busy.names)}

Ratios (same run): grid p50 / raw scan p50 = ${results.baseline.gridOverRawScanP50}; grid p50 / health p50 = ${results.baseline.gridOverHealthP50}.

## Throughput (16 concurrent clients, ${LOAD_SECONDS} s)

| phase | req/s | p50 ms | p99 ms | errors |
| --- | --- | --- | --- | --- |
| idle, no reuse | ${idleLoad.rps} | ${idleLoad.p50} | ${idleLoad.p99} | ${idleLoad.errors} |
| idle, 1 s reuse | ${idleLoadCached.rps} | ${idleLoadCached.p50} | ${idleLoadCached.p99} | ${idleLoadCached.errors} |
| ${WORKERS} workers + event stream, no reuse | ${busyLoad.rps} | ${busyLoad.p50} | ${busyLoad.p99} | ${busyLoad.errors} |
| ${WORKERS} workers + event stream, 1 s reuse | ${busyLoadCached.rps} | ${busyLoadCached.p50} | ${busyLoadCached.p99} | ${busyLoadCached.errors} |

Workers: ${WORKERS} loops (acquireNext → ${WORKER_WORK_MS} ms → complete) in one process; ${completedByWorkers} slots completed during the measurements.

API RSS (\`process_resident_memory_bytes\` of \`/metrics\`; plain node on the bundle): ${rssIdle} MB idle, ${rssAfterLoad} MB after the load (the larger of the two APIs).

## EXPLAIN ANALYZE: grid query

\`\`\`
${gridExplain}
\`\`\`

## EXPLAIN ANALYZE: names query

\`\`\`
${namesExplain}
\`\`\`
`;
  await writeFile(join(RESULTS_DIR, 'latest.md'), md);
  log(`\nwrote bench/results/latest.json and latest.md`);
  for (const [what, t] of Object.entries(targets)) {
    log(`${t.isMet ? 'ok  ' : 'MISS'} ${what}: ${t.actual} (target ${t.target})`);
  }
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  if (keptDir === undefined) await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {});
  await admin.end();
  await db.stop();
}
