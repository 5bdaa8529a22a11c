// The plans of the statements the core runs for a read, with the real parameters: a TaskManager in the
// benchmark's process on a pool whose sessions load `auto_explain` (shipped with the embedded PostgreSQL),
// which logs EXPLAIN (ANALYZE, BUFFERS) of every statement to the server's log, read here through the embedded
// server's log callback. Only on the embedded server: with DATABASE_URL the log is out of reach.
import { TaskManager } from '@dtm/core';
import pg from 'pg';

/** One statement's plan as auto_explain logged it. */
export interface LoggedPlan {
  durationMs: number;
  /** The statement's text, whitespace collapsed. */
  query: string;
  plan: string;
}

/** Collects the server's log while asked to; `openDatabase`'s `onLog` feeds it. */
export class ServerLog {
  #text: string | null = null;

  readonly onLog = (chunk: string) => {
    if (this.#text !== null) this.#text += chunk;
  };

  /** Runs `body` and returns the plans logged meanwhile (the log is written just after each statement). */
  async capture(body: () => Promise<unknown>): Promise<LoggedPlan[]> {
    // The server's log reaches us some time after each statement: let what earlier statements logged arrive
    // (and be dropped) first, and what `body`'s last statement logs arrive before reading.
    this.#text = '';
    await this.#quiet();
    this.#text = '';
    await body();
    await this.#quiet();
    const text = this.#text;
    this.#text = null;
    return parsePlans(text);
  }

  /** Until nothing was logged for 200 ms (at most 2 s). */
  async #quiet(): Promise<void> {
    const deadline = performance.now() + 2_000;
    let seen = -1;
    while (performance.now() < deadline && (this.#text ?? '').length !== seen) {
      seen = (this.#text ?? '').length;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function parsePlans(text: string): LoggedPlan[] {
  const plans: LoggedPlan[] = [];
  const marker = /LOG: {2}duration: ([\d.]+) ms {2}plan:\n/g;
  const starts = [...text.matchAll(marker)];
  starts.forEach((match, i) => {
    const from = (match.index ?? 0) + match[0].length;
    const to = starts[i + 1]?.index ?? text.length;
    // The plan's lines are indented; the next unindented line is another log entry.
    const lines: string[] = [];
    for (const line of text.slice(from, to).split('\n')) {
      if (!/^\s/.test(line)) break;
      lines.push(line.replace(/^\t/, ''));
    }
    const textStart = lines.findIndex((line) => line.startsWith('Query Text:'));
    const planStart = lines.findIndex(
      (line, j) => j > textStart && /^\S/.test(line) && !line.startsWith('Query Text:'),
    );
    const queryLines = planStart < 0 ? lines : lines.slice(0, planStart);
    plans.push({
      durationMs: Number(match[1]),
      query: queryLines
        .join(' ')
        .replace(/^Query Text:\s*/, '')
        .replace(/\s+/g, ' ')
        .trim(),
      plan: (planStart < 0 ? [] : lines.slice(planStart)).join('\n'),
    });
  });
  return plans;
}

/** A TaskManager whose every statement auto_explain logs with ANALYZE and BUFFERS. */
export function explainingManager(url: string, schema: string): { tm: TaskManager; close(): Promise<void> } {
  const settings = {
    session_preload_libraries: 'auto_explain',
    'auto_explain.log_min_duration': '0',
    'auto_explain.log_analyze': 'on',
    'auto_explain.log_buffers': 'on',
    'auto_explain.log_timing': 'on',
    'auto_explain.log_parameter_max_length': '0',
    // As on the API's own connections (src/database.ts).
    max_parallel_workers_per_gather: '0',
  };
  const pool = new pg.Pool({
    connectionString: url,
    max: 3,
    application_name: 'bench-explain',
    options: Object.entries(settings)
      .map(([key, value]) => `-c ${key}=${value}`)
      .join(' '),
  });
  const tm = new TaskManager({ pool, schema, workerName: 'bench-explain' });
  return {
    tm,
    async close() {
      await tm.close();
      await pool.end();
    },
  };
}
