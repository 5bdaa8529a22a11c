import { Hono } from 'hono';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { readOnly } from '../read-only.ts';
import { escapeLabel, type RequestMetrics } from '../request-metrics.ts';
import type { SingleFlightStats } from '../single-flight.ts';
import { isDatabaseUp } from './health.ts';
import { type NameSummary, type NameTotals, readNameSummaries } from './names.ts';

interface PresentRow {
  name: string;
  present: string;
}

/**
 * Missing slots per name in the look-back window: slots that have started by now, from the later of
 * (now − look-back) and the name's first slot (a name is not missing slots from before it existed), that
 * have no row. Rows are counted over the primary-key range; the expected count is arithmetic.
 */
async function readMissing(
  deps: RouteDeps,
  summaries: NameSummary[],
  now: Date,
): Promise<Map<string, number>> {
  const windows = summaries.flatMap((s) => {
    if (s.firstSlot === null) return [];
    const originMs = s.origin.getTime();
    const lookbackStart = now.getTime() - deps.limits.metricsLookbackMs;
    const startMs = Math.max(
      s.firstSlot.getTime(),
      originMs + Math.ceil((lookbackStart - originMs) / s.intervalMs) * s.intervalMs,
    );
    const expected = Math.max(0, Math.floor((now.getTime() - startMs) / s.intervalMs) + 1);
    return [{ name: s.name, start: new Date(startMs), expected }];
  });
  const missing = new Map<string, number>();
  if (windows.length === 0) return missing;
  const rows = await readOnly<PresentRow>(
    deps,
    `SELECT w.name,
            (SELECT count(*) FROM ${deps.schemaSql}.tasks t
             WHERE t.name = w.name AND t.slot >= w.start AND t.slot <= $3) AS present
     FROM unnest($1::text[], $2::timestamptz[]) AS w (name, start)`,
    [windows.map((w) => w.name), windows.map((w) => w.start), now],
  );
  const present = new Map(rows.map((row) => [row.name, Number(row.present)]));
  for (const w of windows) missing.set(w.name, Math.max(0, w.expected - (present.get(w.name) ?? 0)));
  return missing;
}

function gauge(lines: string[], name: string, help: string): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
}

/** The counters of a route's single flight: computations, and requests answered by a shared one. */
function flightCounters(
  lines: string[],
  route: string,
  results: string,
  requests: string,
  stats: SingleFlightStats,
) {
  const computations = `dtm_api_${route}_computations_total`;
  const shared = `dtm_api_${route}_shared_total`;
  lines.push(
    `# HELP ${computations} ${results} computed (identical concurrent requests share one).`,
    `# TYPE ${computations} counter`,
    `${computations} ${stats.computations}`,
    `# HELP ${shared} ${requests} answered by a computation shared with other requests.`,
    `# TYPE ${shared} counter`,
    `${shared} ${stats.shared}`,
  );
}

/** `GET /metrics`: Prometheus text format. */
export function metricsRoutes(
  deps: RouteDeps,
  requests: RequestMetrics,
  totals: NameTotals,
  flights: { grid: SingleFlightStats; names: SingleFlightStats },
) {
  return new Hono<AppEnv>().get('/', async (c) => {
    const lines: string[] = [];
    const isUp = await isDatabaseUp(deps);
    gauge(lines, 'dtm_database_up', 'Whether the API reaches its database (1) or not (0).');
    lines.push(`dtm_database_up ${isUp ? 1 : 0}`);
    if (isUp) {
      const now = deps.now();
      const summaries = await readNameSummaries(deps, totals);
      const missing = await readMissing(deps, summaries, now);
      gauge(lines, 'dtm_slots', 'Slots by task name and live state (ACQUIRED: held by a worker right now).');
      for (const s of summaries) {
        for (const [state, count] of Object.entries(s.counts)) {
          lines.push(`dtm_slots{name="${escapeLabel(s.name)}",state="${state}"} ${count}`);
        }
      }
      gauge(lines, 'dtm_failing_slots', 'AVAILABLE slots with one or more failed attempts, by task name.');
      for (const s of summaries) lines.push(`dtm_failing_slots{name="${escapeLabel(s.name)}"} ${s.failing}`);
      gauge(
        lines,
        'dtm_oldest_due_age_seconds',
        'Age of the oldest AVAILABLE slot that is due now (0 when none), by task name.',
      );
      for (const s of summaries) {
        const age = s.oldestDueSlot ? Math.max(0, (now.getTime() - s.oldestDueSlot.getTime()) / 1000) : 0;
        lines.push(`dtm_oldest_due_age_seconds{name="${escapeLabel(s.name)}"} ${age}`);
      }
      gauge(
        lines,
        'dtm_missing_slots',
        `Slots with no row although the interval says they should exist, in the last ${deps.limits.metricsLookbackMs / 1000} s (not before the name's first slot).`,
      );
      for (const s of summaries) {
        lines.push(`dtm_missing_slots{name="${escapeLabel(s.name)}"} ${missing.get(s.name) ?? 0}`);
      }
    }
    gauge(lines, 'dtm_event_stream_clients', 'Open /api/events streams.');
    lines.push(`dtm_event_stream_clients ${deps.events.size}`);
    flightCounters(lines, 'grid', 'Grids', 'Grid requests', flights.grid);
    flightCounters(lines, 'names', 'Name summaries', 'Name summary requests', flights.names);
    gauge(lines, 'process_resident_memory_bytes', 'Resident memory of the API process.');
    lines.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    const text = `${lines.join('\n')}\n${requests.render()}`;
    return c.body(text, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
