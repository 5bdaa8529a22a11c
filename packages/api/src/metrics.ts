import type { NameSummary } from '@dtm/core';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { RouteDeps } from './deps.ts';
import { RequestMetrics } from './request-metrics.ts';
import { isDatabaseUp } from './routes/health.ts';
import type { SingleFlightStats } from './single-flight.ts';

/** What one scrape reads from the database: nothing when it is down. */
type SlotsRead =
  | { isUp: false }
  | { isUp: true; now: Date; summaries: NameSummary[]; missingOf: Map<string, number> };

let processRegistry: Registry | null = null;

/**
 * prom-client's default metrics (CPU, resident memory, heap, event-loop lag, GC, handles), on a registry of
 * their own: they describe the process, so they are collected once however many apps it builds.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The app's series (prom-client, merged with the process's default metrics): slots by name and state,
 * failing, oldest due age and missing slots (the core's reads, made when Prometheus scrapes: one read shared
 * by every series of a scrape), event stream clients, and the counters of the grid's and names' single
 * flights; and the HTTP requests' series, which `requests` records.
 */
export function createMetrics(
  deps: RouteDeps,
  flights: { grid: SingleFlightStats; names: SingleFlightStats },
): { registry: Registry; requests: RequestMetrics } {
  const app = new Registry();
  const registers = [app];
  const read = sharedWhilePending(() => readSlots(deps));
  new Gauge({
    name: 'dtm_database_up',
    help: 'Whether the API reaches its database (1) or not (0).',
    registers,
    async collect() {
      this.set((await read()).isUp ? 1 : 0);
    },
  });
  new Gauge({
    name: 'dtm_slots',
    help: 'Slots by task name and live state (ACQUIRED: held by a worker right now).',
    labelNames: ['name', 'state'],
    registers,
    async collect() {
      const slots = await read();
      this.reset();
      if (!slots.isUp) return;
      for (const s of slots.summaries) {
        for (const [state, count] of Object.entries(s.counts)) this.set({ name: s.name, state }, count);
      }
    },
  });
  new Gauge({
    name: 'dtm_failing_slots',
    help: 'AVAILABLE slots with one or more failed attempts, by task name.',
    labelNames: ['name'],
    registers,
    async collect() {
      const slots = await read();
      this.reset();
      if (slots.isUp) for (const s of slots.summaries) this.set({ name: s.name }, s.failing);
    },
  });
  new Gauge({
    name: 'dtm_oldest_due_age_seconds',
    help: 'Age of the oldest AVAILABLE slot that is due now (0 when none), by task name.',
    labelNames: ['name'],
    registers,
    async collect() {
      const slots = await read();
      this.reset();
      if (!slots.isUp) return;
      for (const s of slots.summaries) {
        const due = s.oldestDueSlot?.getTime() ?? slots.now.getTime();
        this.set({ name: s.name }, Math.max(0, (slots.now.getTime() - due) / 1000));
      }
    },
  });
  new Gauge({
    name: 'dtm_missing_slots',
    help: `Slots with no row although the interval says they should exist, in the last ${deps.limits.metricsLookbackMs / 1000} s (not before the name's first slot).`,
    labelNames: ['name'],
    registers,
    async collect() {
      const slots = await read();
      this.reset();
      if (!slots.isUp) return;
      for (const s of slots.summaries) this.set({ name: s.name }, slots.missingOf.get(s.name) ?? 0);
    },
  });
  new Gauge({
    name: 'dtm_event_stream_clients',
    help: 'Open /api/events streams.',
    registers,
    collect() {
      this.set(deps.events.size);
    },
  });
  flightCounters(app, 'grid', 'Grids', 'Grid requests', flights.grid);
  flightCounters(app, 'names', 'Name summaries', 'Name summary requests', flights.names);
  const requests = new RequestMetrics(app);
  return { registry: Registry.merge([processMetrics(), app]), requests };
}

/** The counters of a route's single flight: computations, and requests answered by a shared one. */
function flightCounters(
  registry: Registry,
  route: string,
  results: string,
  requests: string,
  stats: SingleFlightStats,
): void {
  new Counter({
    name: `dtm_api_${route}_computations_total`,
    help: `${results} computed (identical concurrent requests share one).`,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.computations);
    },
  });
  new Counter({
    name: `dtm_api_${route}_shared_total`,
    help: `${requests} answered by a computation shared with other requests.`,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.shared);
    },
  });
}

async function readSlots(deps: RouteDeps): Promise<SlotsRead> {
  if (!(await isDatabaseUp(deps))) return { isUp: false };
  const now = deps.now();
  // The grid's own counts of the look-back window, one cell per name: metrics, grid and `dtm status` never
  // disagree.
  const [summaries, lookback] = await Promise.all([
    deps.tm.listNames(),
    deps.tm.grid({
      from: new Date(now.getTime() - deps.limits.metricsLookbackMs),
      to: now,
      columns: 1,
      now,
    }),
  ]);
  return {
    isUp: true,
    now,
    summaries,
    missingOf: new Map(lookback.rows.map((row) => [row.name, row.summary.missing])),
  };
}

/** `read`, shared by every call made while one is under way (the series of one scrape). */
function sharedWhilePending<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    pending ??= read().finally(() => {
      pending = null;
    });
    return pending;
  };
}
