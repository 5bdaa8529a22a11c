// API benchmark (issue 15): `pnpm --filter @dtm/api bench`. At each size (BENCH_ROWS, comma-separated totals;
// default 1,000,000 then 20,000,000 rows) it seeds the same narrow and wide windows with more history before
// them, runs the API from its bundle as its own process and 16 workers in another, and measures the grids,
// the names, the first answer after a start, the API's RSS, the workers' slots/s with and without the API's
// recounting, and what a slot in year 2200 changes. Every ratio compares numbers of this one run. Results go
// to bench/results/latest.json and latest.md. BENCH_SMOKE=1: tiny sizes and short phases, in under a minute
// (results in bench/results/smoke.*.tmp).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { TaskManager } from '@dtm/core';
import { openDatabase } from '@dtm/dev-db';
import pg from 'pg';
import { buildServer } from './build-server.ts';
import { explainingManager, ServerLog } from './explain.ts';
import {
  type Api,
  load,
  median,
  metricOf,
  round,
  rssOf,
  type Stats,
  startApi,
  startWorkers,
  stats,
  stopChild,
  timedGet,
  timeFirstAnswers,
  until,
  type Workers,
  watchEvents,
} from './http.ts';
import { markdown, type Results, type SizeResult, targetsOf } from './report.ts';
import { minimumSlots, planSize, seed, type Windows, WORK_NAME, wideName, windowsOf } from './seed.ts';
import {
  COLUMNS,
  FAR_NAME,
  FAR_ORDER,
  FAR_SLOT,
  GRID_PHASE_WORK_MS,
  geometry,
  isSmoke,
  NAMES_SPACING_MS,
  PHASES,
  ROUND_ORDER,
  requestedSizes,
  WORKERS,
} from './settings.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
const RESULTS_DIR = join(import.meta.dirname, 'results');

/**
 * Which code is measured: BENCH_CODE when set (a copy of the tree without git), else the commit, flagged when
 * files outside the bench differ from it (the tree is shared with others' work in progress).
 */
function codeVersion(): string {
  if (process.env.BENCH_CODE) return process.env.BENCH_CODE;
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT }).toString().trim();
    const head = git('rev-parse', '--short', 'HEAD');
    const changed = git('status', '--porcelain', '--untracked-files=no', '--', '.', ':!packages/api/bench');
    return changed === '' ? head : `${head} with uncommitted changes outside packages/api/bench`;
  } catch {
    return 'unknown';
  }
}

const log = (message: string) =>
  process.stdout.write(`[${Math.round((performance.now() - runStarted) / 1000)} s] ${message}\n`);

const runStarted = performance.now();
const serverLog = new ServerLog();
const dataDir = join(REPO_ROOT, '.data', `bench-${randomBytes(4).toString('hex')}`);
const db = await openDatabase({ dataDir, isThrowaway: true, onLog: serverLog.onLog });
const admin = new pg.Client(db.url);
await admin.connect();
const running: { api: Api | null; workers: Workers | null } = { api: null, workers: null };
const schemas: string[] = [];
try {
  const postgres =
    (await admin.query<{ v: string }>('SELECT current_setting($$server_version$$) AS v')).rows[0]?.v ?? '?';
  log(`PostgreSQL ${postgres} (${db.isEmbedded ? 'embedded' : 'DATABASE_URL'}); ${cpus().length} cores`);
  await buildServer();
  const results: Results = {
    at: new Date().toISOString(),
    code: codeVersion(),
    isSmoke,
    durationS: 0,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? '?',
      memoryGb: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      postgres,
      database: db.isEmbedded ? 'embedded, same machine' : 'DATABASE_URL',
      loadAverageAtStart: loadavg().map((x) => round(x, 2)),
      loadAverageAtEnd: [],
    },
    geometry,
    minimumRows: minimumSlots(geometry),
    sizes: [],
  };
  // Every size's windows end at the same whole hour, so that they hold the same rows.
  const anchorMs = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  for (const [i, requestedRows] of requestedSizes.entries()) {
    const schema = `bench_api_${i + 1}`;
    schemas.push(schema);
    results.sizes.push(await runSize(schema, requestedRows, anchorMs));
    results.durationS = Math.round((performance.now() - runStarted) / 1000);
    results.machine.loadAverageAtEnd = loadavg().map((x) => round(x, 2));
    await writeResults(results);
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  }
  log(`\ndone in ${results.durationS} s`);
} finally {
  if (running.workers) await running.workers.stop().catch(() => {});
  if (running.api) await stopChild(running.api.child);
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await admin.end();
  await db.stop();
}

async function writeResults(results: Results): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const [json, md] = isSmoke ? ['smoke.json.tmp', 'smoke.md.tmp'] : ['latest.json', 'latest.md'];
  await writeFile(
    join(RESULTS_DIR, json),
    `${JSON.stringify({ ...results, targets: targetsOf(results) }, null, 2)}\n`,
  );
  await writeFile(join(RESULTS_DIR, md), markdown(results));
  log(`wrote bench/results/${json} and ${md}`);
}

function gridUrl(api: Api, window: { names: string[]; from: Date; to: Date }): string {
  return `${api.url}/api/grid?names=${window.names.join(',')}&from=${window.from.toISOString()}&to=${window.to.toISOString()}&columns=${COLUMNS}`;
}

async function apiUp(schema: string): Promise<Api> {
  const api = await startApi({ DATABASE_URL: db.url, DTM_SCHEMA: schema, DTM_GRID_CACHE_MS: '0' });
  running.api = api;
  return api;
}

async function apiDown(): Promise<void> {
  if (running.api) await stopChild(running.api.child);
  running.api = null;
}

async function runSize(schema: string, requestedRows: number, anchorMs: number): Promise<SizeResult> {
  const plan = planSize(geometry, requestedRows);
  log(
    `\n=== ${requestedRows.toLocaleString('en')} rows asked (${plan.slots.toLocaleString('en')} slots before gaps; the windows alone need ${minimumSlots(geometry).toLocaleString('en')}) in ${schema}`,
  );
  const s = `"${schema}"`;
  await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  // A pool of our own: one the manager builds bounds every query by 45 s (serverReleaseMs), and
  // rebuildCounts() takes minutes at 20M rows.
  const seedPool = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'bench-seed' });
  const tm = new TaskManager({ pool: seedPool, schema, workerName: 'bench-seed' });
  await tm.migrate();
  const seeded = await seed(admin, tm, s, plan, anchorMs, log);
  await tm.close();
  await seedPool.end();
  log(
    `seeded ${seeded.rows.toLocaleString('en')} rows: insert ${seeded.insertMs} ms, VACUUM (ANALYZE) ${seeded.vacuumMs} ms, rebuildCounts ${seeded.rebuildCountsMs} ms (${seeded.countsRows.toLocaleString('en')} count rows)`,
  );
  const windows = windowsOf(geometry, anchorMs);

  // The first start: from spawning the process to its first answers.
  const api = await apiUp(schema);
  const first = await timeFirstAnswers(api, gridUrl(api, windows.narrow));
  const firstStart = { healthMs: first.healthMs, firstGridMs: first.firstMs };
  log(`first start: /api/health after ${first.healthMs} ms, first narrow grid after ${first.firstMs} ms`);
  const rssAtStart = await rssOf(api.url);

  const backlogMs = Date.now() - (anchorMs - geometry.workSlots * 1_000) + 3_600_000;
  const workerArgs = { url: db.url, schema, name: WORK_NAME, concurrency: WORKERS, backlogMs };
  running.workers = await startWorkers({ ...workerArgs, workMs: GRID_PHASE_WORK_MS });
  const readWorkers = running.workers;
  await until('the workers to complete slots', async () => (await readWorkers.count()).completed > 0, 50);

  const explain = await captureExplains(schema, windows);
  const bare = await bareAggregate(schema, windows, explain.slotsPerCell.narrow);
  const stream = watchEvents(api.url);
  const namesBefore = await metricOf(api.url, 'dtm_api_names_computations_total');
  log('reads with 16 workers running …');
  const reads = await measureReads(api, windows, bare.run, PHASES.reads);
  const namesComputations = (await metricOf(api.url, 'dtm_api_names_computations_total')) - namesBefore;
  const summary = (what: string, x: Stats) => `${what} p50 ${x.p50} ms p99 ${x.p99} ms (n ${x.n})`;
  log(
    [
      summary('narrow grid', stats(reads.narrow)),
      summary('bare aggregate', stats(reads.bare)),
      summary('wide grid', stats(reads.wide)),
      summary('names', stats(reads.names)),
    ].join('; '),
  );
  const loaded = await load(gridUrl(api, windows.narrow), 16, PHASES.loadSeconds);
  const rssAfterLoad = await rssOf(api.url);
  log(`load: ${loaded.rps} narrow grids/s with 16 clients; API RSS ${rssAfterLoad} MB`);

  const far = await measureFar(api, schema, windows, bare.run);
  const rssAfterFar = await rssOf(api.url);
  // The names list again, after the workers have completed their slots for minutes: what changed with them.
  const namesLater = await captureNames(schema);
  const eventsHeard = stream.events();
  stream.close();
  const completedDuringReads = await readWorkers.stop();
  running.workers = null;

  await bare.close();

  const workers = await measureWorkers(schema, windows, workerArgs);
  const restarts = workers.restarts;
  await apiDown();

  return {
    requestedRows,
    plan,
    seed: seeded,
    schema,
    firstStart,
    restarts,
    reads: {
      narrow: stats(reads.narrow),
      bare: stats(reads.bare),
      wide: stats(reads.wide),
      names: stats(reads.names),
      namesRequests: reads.names.length,
      namesComputations,
      slotsPerCell: explain.slotsPerCell,
      cells: explain.cells,
      eventsHeard,
    },
    load: loaded,
    rssMb: {
      atStart: rssAtStart,
      afterLoad: rssAfterLoad,
      afterFar: rssAfterFar,
      max: Math.max(rssAfterLoad, rssAfterFar),
    },
    far,
    workers: { completedDuringReads, ...workers.result },
    explain: {
      narrow: explain.narrow,
      wide: explain.wide,
      names: explain.names,
      namesLater,
      bare: bare.explain,
    },
  };
}

/**
 * The plans of one narrow grid, one wide grid and one names list as the core runs them (auto_explain), and
 * the cell geometry the core chose.
 */
async function captureExplains(schema: string, windows: Windows) {
  const explaining = explainingManager(db.url, schema);
  try {
    const narrowGrid = await explaining.tm.grid({ ...windows.narrow, columns: COLUMNS });
    const wideGrid = await explaining.tm.grid({ ...windows.wide, columns: COLUMNS });
    const slotsPerCell = {
      narrow: narrowGrid.rows[0]?.slotsPerCell ?? 1,
      wide: wideGrid.rows[0]?.slotsPerCell ?? 1,
    };
    const cells = {
      narrow: narrowGrid.rows[0]?.cells.length ?? 0,
      wide: wideGrid.rows[0]?.cells.length ?? 0,
    };
    if (!db.isEmbedded) return { slotsPerCell, cells, narrow: [], wide: [], names: [] };
    const narrow = await serverLog.capture(() => explaining.tm.grid({ ...windows.narrow, columns: COLUMNS }));
    const wide = await serverLog.capture(() => explaining.tm.grid({ ...windows.wide, columns: COLUMNS }));
    const names = await serverLog.capture(() => explaining.tm.listNames());
    log(`captured ${narrow.length} + ${wide.length} + ${names.length} plans (narrow grid, wide grid, names)`);
    return { slotsPerCell, cells, narrow, wide, names };
  } finally {
    await explaining.close();
  }
}

/** The plans of one names list (auto_explain), as `captureExplains`. */
async function captureNames(schema: string) {
  if (!db.isEmbedded) return [];
  const explaining = explainingManager(db.url, schema);
  try {
    return await serverLog.capture(() => explaining.tm.listNames());
  } finally {
    await explaining.close();
  }
}

/**
 * The baseline: one plain aggregate of the narrow window's rows into the grid's cells, through node-postgres on
 * the same database, without HTTP (on a connection set up as the API's are: no parallel workers).
 */
async function bareAggregate(schema: string, windows: Windows, slotsPerCell: number) {
  const client = new pg.Client({
    connectionString: db.url,
    application_name: 'bench-bare',
    options: '-c max_parallel_workers_per_gather=0',
  });
  await client.connect();
  const text = `SELECT name, "${schema}".epoch_ms(slot) / $4::bigint AS cell,
         count(*) AS slots,
         count(*) FILTER (WHERE state = 'AVAILABLE' AND failed_attempts = 0) AS available,
         count(*) FILTER (WHERE state = 'AVAILABLE' AND failed_attempts > 0) AS failing,
         count(*) FILTER (WHERE state = 'COMPLETE') AS complete,
         count(*) FILTER (WHERE state = 'SKIP') AS skip,
         max(failed_attempts) AS max_failed_attempts
       FROM "${schema}".tasks
       WHERE name = ANY ($1) AND slot >= $2 AND slot < $3
       GROUP BY 1, 2`;
  const values = [windows.narrow.names, windows.narrow.from, windows.narrow.to, slotsPerCell * 300_000];
  const explained = await client.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, BUFFERS) ${text}`,
    values,
  );
  return {
    explain: explained.rows.map((row) => row['QUERY PLAN']).join('\n'),
    run: async () => {
      const started = performance.now();
      await client.query(text, values);
      return performance.now() - started;
    },
    close: () => client.end(),
  };
}

/** When a sequential read loop stops: see PHASES. */
interface ReadGoal {
  narrow: number;
  names: number;
  seconds: number;
  minNarrow: number;
  minNames: number;
}

/**
 * One sequential client, interleaving: the narrow grid and the bare aggregate (in alternating order), the
 * wide grid, `extra` requests, and `/api/names` whenever 1.1 s have passed since the last (so that each
 * computes rather than reusing the last), until `goal`. Interleaved, the ratios compare requests made under
 * the same conditions.
 */
async function measureReads(
  api: Api,
  windows: Windows,
  bare: () => Promise<number>,
  goal: ReadGoal,
  extra: Array<{ key: string; url: string }> = [],
) {
  const narrowUrl = gridUrl(api, windows.narrow);
  const wideUrl = gridUrl(api, windows.wide);
  const namesUrl = `${api.url}/api/names`;
  const out = {
    narrow: [] as number[],
    bare: [] as number[],
    wide: [] as number[],
    names: [] as number[],
    statuses: {} as Record<string, number>,
  };
  const get = async (key: string, url: string, into: number[]) => {
    const { ms, status } = await timedGet(url);
    const label = `${key} ${status}`;
    out.statuses[label] = (out.statuses[label] ?? 0) + 1;
    if (status === 200) into.push(ms);
  };
  // Warm-up, not counted.
  for (let i = 0; i < 3; i++) {
    await timedGet(narrowUrl);
    await timedGet(wideUrl);
    await bare();
  }
  const started = performance.now();
  const isDone = () =>
    (out.narrow.length >= goal.narrow && out.names.length >= goal.names) ||
    (performance.now() - started >= goal.seconds * 1_000 &&
      out.narrow.length >= goal.minNarrow &&
      out.names.length >= goal.minNames);
  let lastNames = Number.NEGATIVE_INFINITY;
  for (let i = 0; !isDone(); i++) {
    if (i % 2 === 0) {
      await get('narrow', narrowUrl, out.narrow);
      out.bare.push(await bare());
    } else {
      out.bare.push(await bare());
      await get('narrow', narrowUrl, out.narrow);
    }
    await get('wide', wideUrl, out.wide);
    for (const { key, url } of extra) await get(key, url, []);
    if (out.names.length < goal.names && performance.now() - lastNames >= NAMES_SPACING_MS) {
      lastNames = performance.now();
      await get('names', namesUrl, out.names);
    }
    if (i > goal.narrow * 20) throw new Error(`reads keep failing: ${JSON.stringify(out.statuses)}`);
  }
  return out;
}

/**
 * A slot in year 2200 on a wide name, and a one-second name with slots now and one in 2200. The same reads,
 * with the grid of that name around now and of the wide name up to 2200 added to each round, in rounds with
 * both slots in 2200 (created through the core) and without them (deleted by hand in SQL, as an operator
 * would), in FAR_ORDER, so that the drift of a loaded machine falls on both alike. Each round starts once the
 * recounting has stored (or dropped) the two slots' buckets.
 */
async function measureFar(api: Api, schema: string, windows: Windows, bare: () => Promise<number>) {
  const tm = new TaskManager({ connectionString: db.url, schema, poolSize: 2, workerName: 'bench-far' });
  const now = Date.now();
  await tm.createTasks({
    name: FAR_NAME,
    from: new Date(now - 600_000),
    to: new Date(now),
    interval: 'PT1S',
  });
  const farSlots = [
    { name: wideName(1), interval: 'PT1M', idx: Math.floor(FAR_SLOT.getTime() / 60_000 / 16) },
    { name: FAR_NAME, interval: 'PT1S', idx: Math.floor(FAR_SLOT.getTime() / 1_000 / 16) },
  ];
  const storedBuckets = async () =>
    (
      await admin.query(
        `SELECT 1 FROM "${schema}".slot_counts
         WHERE level = 0 AND ((name = $1 AND idx = $2) OR (name = $3 AND idx = $4))`,
        farSlots.flatMap((slot) => [slot.name, slot.idx]),
      )
    ).rowCount;
  const pt1sUrl = `${api.url}/api/grid?names=${FAR_NAME}&from=${new Date(now - 3_600_000).toISOString()}&to=${new Date(now + 3_600_000).toISOString()}&columns=${COLUMNS}`;
  const wideTo2200Url = `${api.url}/api/grid?names=${wideName(1)}&from=${windows.wide.from.toISOString()}&to=2200-01-02T00:00:00.000Z&columns=${COLUMNS}`;
  const extra = [
    { key: 'far-pt1s grid', url: pt1sUrl },
    { key: 'wide-01 to 2200 grid', url: wideTo2200Url },
  ];
  const samples = {
    with: { narrow: [] as number[], wide: [] as number[], names: [] as number[] },
    without: { narrow: [] as number[], wide: [] as number[], names: [] as number[] },
  };
  const statuses: Record<string, number> = {};
  let namesHasFar = false;
  let current: 'with' | 'without' = 'without';
  for (const state of FAR_ORDER) {
    if (state === 'with' && current === 'without') {
      for (const slot of farSlots)
        await tm.createTask({ name: slot.name, slot: FAR_SLOT, interval: slot.interval });
    } else if (state === 'without' && current === 'with') {
      await admin.query(`DELETE FROM "${schema}".tasks WHERE slot = $1 AND name = ANY ($2)`, [
        FAR_SLOT,
        farSlots.map((slot) => slot.name),
      ]);
    }
    current = state;
    await until(
      `the recounting to ${state === 'with' ? 'count' : 'drop'} the slots in 2200`,
      async () => (await storedBuckets()) === (state === 'with' ? 2 : 0),
      50,
    );
    const reads = await measureReads(api, windows, bare, PHASES.far, extra);
    samples[state].narrow.push(...reads.narrow);
    samples[state].wide.push(...reads.wide);
    samples[state].names.push(...reads.names);
    for (const [key, n] of Object.entries(reads.statuses))
      statuses[`${state}: ${key}`] = (statuses[`${state}: ${key}`] ?? 0) + n;
    if (state === 'with') {
      const names = (await (await fetch(`${api.url}/api/names`)).json()) as {
        names: Array<{ name: string; lastSlot: string | null }>;
      };
      namesHasFar = names.names.some((n) => n.name === FAR_NAME && n.lastSlot === FAR_SLOT.toISOString());
    }
  }
  await tm.close();
  const pt1sGrid = await timedGet(pt1sUrl);
  const wideTo2200Grid = await timedGet(wideTo2200Url);
  const of = (state: 'with' | 'without') => ({
    narrow: stats(samples[state].narrow),
    wide: stats(samples[state].wide),
    names: stats(samples[state].names),
  });
  const result = {
    without: of('without'),
    with: of('with'),
    statuses,
    pt1sGrid: { status: pt1sGrid.status, ms: round(pt1sGrid.ms) },
    wideTo2200Grid: { status: wideTo2200Grid.status, ms: round(wideTo2200Grid.ms) },
    namesHasFar,
  };
  log(
    `slots in 2200: p50 without / with: narrow ${result.without.narrow.p50} / ${result.with.narrow.p50} ms, wide ${result.without.wide.p50} / ${result.with.wide.p50} ms, names ${result.without.names.p50} / ${result.with.names.p50} ms`,
  );
  return result;
}

/**
 * The workers' slots/s with handlers that return at once, in rounds of equal length with the API up (its
 * recounting running) and stopped, in ROUND_ORDER; one worker process runs throughout, and each round counts
 * the slots it completed between two readings taken after the API's start or stop has settled.
 */
async function measureWorkers(
  schema: string,
  windows: Windows,
  workerArgs: { url: string; schema: string; name: string; concurrency: number; backlogMs: number },
) {
  const workers = await startWorkers({ ...workerArgs, workMs: 0 });
  running.workers = workers;
  const rounds: Array<{ api: 'up' | 'down'; slotsPerSecond: number; seconds: number }> = [];
  const restarts: SizeResult['restarts'] = [];
  const position = async () =>
    (await admin.query<{ s: string }>(`SELECT snapshot::text AS s FROM "${schema}".counts_position`)).rows[0]
      ?.s;
  // The workers' process warms up first (connections, JIT).
  await new Promise((resolve) => setTimeout(resolve, PHASES.workersWarmUpMs));
  for (const state of ROUND_ORDER) {
    if (state === 'up' && !running.api) {
      const before = await position();
      const api = await apiUp(schema);
      const first = await timeFirstAnswers(api, gridUrl(api, windows.narrow));
      // Its first recount catches up with what the workers did while it was stopped; the rounds measure the
      // steady state after it.
      await until(
        'the restarted API to catch up on the counts',
        async () => (await position()) !== before,
        20,
      );
      const catchUpMs = round(performance.now() - api.spawnedAt);
      restarts.push({ healthMs: first.healthMs, firstGridMs: first.firstMs, catchUpMs });
    }
    if (state === 'down') await apiDown();
    await new Promise((resolve) => setTimeout(resolve, PHASES.settleMs));
    const start = await workers.count();
    await new Promise((resolve) => setTimeout(resolve, PHASES.roundSeconds * 1_000));
    const end = await workers.count();
    const seconds = (end.at - start.at) / 1_000;
    const left = await admin.query(
      `SELECT 1 FROM "${schema}".tasks WHERE name = $1 AND state = 'AVAILABLE' LIMIT 1 OFFSET 999`,
      [WORK_NAME],
    );
    if (left.rowCount === 0) throw new Error('the workers ran out of slots: raise workSlots in seed.ts');
    rounds.push({
      api: state,
      slotsPerSecond: round((end.completed - start.completed) / seconds),
      seconds: round(seconds, 2),
    });
    log(`workers, API ${state}: ${rounds.at(-1)?.slotsPerSecond} slots/s`);
  }
  await workers.stop();
  running.workers = null;
  const medianUp = median(rounds.filter((r) => r.api === 'up').map((r) => r.slotsPerSecond));
  const medianDown = median(rounds.filter((r) => r.api === 'down').map((r) => r.slotsPerSecond));
  const mean = (api: 'up' | 'down') => {
    const of = rounds.filter((r) => r.api === api).map((r) => r.slotsPerSecond);
    return of.reduce((a, b) => a + b, 0) / of.length;
  };
  return {
    restarts,
    result: {
      rounds,
      medianUp,
      medianDown,
      ratio: round(medianUp / medianDown, 3),
      meanRatio: round(mean('up') / mean('down'), 3),
    },
  };
}
