import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import { escapeLabel, type RequestMetrics } from '../request-metrics.ts';
import type { SingleFlightStats } from '../single-flight.ts';
import { isDatabaseUp } from './health.ts';

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

const metricsRoute = createRoute({
  method: 'get',
  path: '/',
  summary:
    'Prometheus metrics: slots by name and state, failing, oldest due age, missing slots, HTTP requests',
  responses: {
    200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
  },
});

/** `GET /metrics`: Prometheus text format. */
export function metricsRoutes(
  deps: RouteDeps,
  requests: RequestMetrics,
  flights: { grid: SingleFlightStats; names: SingleFlightStats },
) {
  return new OpenAPIHono<AppEnv>().openapi(metricsRoute, async (c) => {
    const lines: string[] = [];
    const isUp = await isDatabaseUp(deps);
    gauge(lines, 'dtm_database_up', 'Whether the API reaches its database (1) or not (0).');
    lines.push(`dtm_database_up ${isUp ? 1 : 0}`);
    if (isUp) {
      const now = deps.now();
      // The grid's own counts of the look-back window, one cell per name: metrics, grid and `dtm status`
      // never disagree.
      const [summaries, lookback] = await Promise.all([
        deps.tm.listNames(),
        deps.tm.grid({
          from: new Date(now.getTime() - deps.limits.metricsLookbackMs),
          to: now,
          columns: 1,
          now,
        }),
      ]);
      const missingOf = new Map(lookback.rows.map((row) => [row.name, row.summary.missing]));
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
        lines.push(`dtm_missing_slots{name="${escapeLabel(s.name)}"} ${missingOf.get(s.name) ?? 0}`);
      }
    }
    gauge(lines, 'dtm_event_stream_clients', 'Open /api/events streams.');
    lines.push(`dtm_event_stream_clients ${deps.events.size}`);
    flightCounters(lines, 'grid', 'Grids', 'Grid requests', flights.grid);
    flightCounters(lines, 'names', 'Name summaries', 'Name summary requests', flights.names);
    gauge(lines, 'process_resident_memory_bytes', 'Resident memory of the API process.');
    lines.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    const text = `${lines.join('\n')}\n${requests.render()}`;
    return c.text(text, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
