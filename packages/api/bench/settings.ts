// What the benchmark runs, read once from the environment: BENCH_SMOKE=1 for the tiny run, BENCH_ROWS for the
// sizes (comma-separated totals of task rows, measured in that order).
import { FULL_GEOMETRY, type Geometry, SMOKE_GEOMETRY } from './seed.ts';

export const isSmoke = process.env.BENCH_SMOKE === '1';
export const geometry: Geometry = isSmoke ? SMOKE_GEOMETRY : FULL_GEOMETRY;

/** Default: the 1M (raised to what the windows need, see seed.ts) and 20M. */
export const requestedSizes = (process.env.BENCH_ROWS ?? (isSmoke ? '0,120000' : '1000000,20000000'))
  .split(',')
  .map((size) => Number(size.trim()));
if (requestedSizes.some((size) => !Number.isInteger(size) || size < 0))
  throw new Error(`BENCH_ROWS must be comma-separated whole numbers, got ${process.env.BENCH_ROWS}`);

/**
 * How long each phase runs. The reads go on until `narrow` narrow grids and `names` names lists are in, or,
 * after `seconds`, once at least `min` of each are (a loaded machine makes every request slower).
 */
export const PHASES = isSmoke
  ? {
      reads: { narrow: 10, names: 2, seconds: 5, minNarrow: 5, minNames: 1 },
      far: { narrow: 2, names: 1, seconds: 1, minNarrow: 2, minNames: 1 },
      loadSeconds: 1,
      roundSeconds: 0.5,
      settleMs: 200,
      workersWarmUpMs: 1_000,
    }
  : {
      reads: { narrow: 200, names: 50, seconds: 150, minNarrow: 100, minNames: 30 },
      far: { narrow: 15, names: 8, seconds: 15, minNarrow: 8, minNames: 4 },
      loadSeconds: 10,
      roundSeconds: 10,
      settleMs: 2_000,
      workersWarmUpMs: 5_000,
    };
export const WORKERS = 16;
/** How long each worker holds a slot while the reads are measured (a real job does some work). */
export const GRID_PHASE_WORK_MS = 20;
/**
 * Rounds of the workers' throughput with the API up and with it stopped, in this order: four each, so that a
 * drift linear in time (the machine's load, the queue's dead index entries piling up) falls alike on both
 * medians (each the mean of its rounds at positions 4 and 5) as well as on both means.
 */
export const ROUND_ORDER = ['up', 'down', 'down', 'up', 'up', 'down', 'down', 'up'] as const;
export const COLUMNS = 200;
/** The API serves a computed `/api/names` again for 1 s (not configurable by environment): space requests. */
export const NAMES_SPACING_MS = 1_100;
/** A slot in year 2200. */
export const FAR_SLOT = new Date('2200-01-01T00:00:00Z');
export const FAR_NAME = 'far-pt1s';
/** With/without p50 taken as noise for the slots in 2200. */
export const FAR_NOISE = 1.3;
/** Rounds of reads with the slots in 2200 and without them, in this order (`far` of PHASES each). */
export const FAR_ORDER = ['without', 'with', 'with', 'without', 'without', 'with'] as const;
