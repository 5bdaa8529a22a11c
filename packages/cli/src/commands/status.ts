import type { Task, TaskManager } from '@dtm/core';
import { parseCommandArgs, parseRange, UsageError } from '../args.ts';
import {
  COMMON_HELP,
  type Command,
  OperationalError,
  printJson,
  resolveSchema,
  withManager,
} from '../command.ts';
import { type NameStatus, renderLegend, renderName, summarizeName } from '../status-grid.ts';

const MAX_SLOTS = 10_000;
const DEFAULT_WINDOW_MS = 86_400_000;

export const statusCommand: Command = {
  name: 'status',
  summary: 'A compact grid per task name with counts, gaps, failures and running slots',
  help: `Usage: dtm status [name] [--from <time> --to <time>] [--width <cells>]

Shows each task name (or just <name>) over a window as one line of cells, oldest first:
  # complete   > running   . pending   ! failing   - skipped   ? missing (a gap)
then the counts per state, the gaps, the failing slots with their last message, and who runs what.
A cell holds several slots when the window has more slots than --width; it then shows the worst of them
(failing, missing, pending, running, skipped, complete). A gap is a slot with no row between the name's
first slot and now; slots before a name's first slot are not shown. Colored on a terminal unless NO_COLOR
is set (FORCE_COLOR=1 colors a pipe).

Options:
  --from <time>     Window start, ISO-8601 (2026-11-28T00:00Z), now, or now-24h (default: now-24h)
  --to <time>       Window end, exclusive (default: now)
  --width <cells>   Most cells per line (default: the terminal's width, else 96)

Exit status: 0, also when slots fail or are missing (read the counts or --json); 1 if <name> is unknown.

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {
      from: { type: 'string' },
      to: { type: 'string' },
      width: { type: 'string' },
    });
    if (positionals.length > 1)
      throw new UsageError(`status takes at most one task name, got ${positionals.length}`);
    const schema = resolveSchema(values.schema, context.env);
    const range = parseRange(values, context.now) ?? {
      from: new Date(context.now.getTime() - DEFAULT_WINDOW_MS),
      to: context.now,
    };
    const maxCells = parseWidth(values.width, context.io.columns);
    const statuses = await withManager(context, schema, async (tm) => {
      const names = positionals[0] === undefined ? await listNames(tm) : [positionals[0]];
      const result: NameStatus[] = [];
      for (const name of names) result.push(await readName(tm, name, range, context.now, maxCells));
      return result;
    });
    if (values.json) {
      printJson(context.io, { from: range.from, to: range.to, now: context.now, names: statuses });
      return 0;
    }
    const { io } = context;
    if (statuses.length === 0) {
      io.out(`no task names in schema ${schema} yet`);
      return 0;
    }
    io.out(renderLegend(io.isColor));
    for (const status of statuses) {
      io.out('');
      for (const line of renderName(status, io.isColor)) io.out(line);
    }
    return 0;
  },
};

function parseWidth(value: string | undefined, columns: number | undefined): number {
  if (value === undefined) return columns ? Math.max(10, Math.min(columns - 4, 200)) : 96;
  const width = Number(value);
  if (!Number.isInteger(width) || width < 1 || width > 2000) {
    throw new UsageError(`--width must be a whole number from 1 to 2000, got ${JSON.stringify(value)}`);
  }
  return width;
}

async function listNames(tm: TaskManager): Promise<string[]> {
  // The core has no "list names" call; the schema name was validated by the TaskManager, so quoting is safe.
  const { rows } = await tm.pool.query<{ name: string }>(
    `SELECT name FROM "${tm.schema}".task_names ORDER BY name`,
  );
  return rows.map((row) => row.name);
}

async function readName(
  tm: TaskManager,
  name: string,
  range: { from: Date; to: Date },
  now: Date,
  maxCells: number,
): Promise<NameStatus> {
  const settings = await tm.getTaskName(name);
  if (!settings) throw new OperationalError('NOT_FOUND', `no task name ${JSON.stringify(name)}`);
  const slots = Math.ceil((range.to.getTime() - range.from.getTime()) / settings.intervalMs);
  if (slots > MAX_SLOTS) {
    throw new UsageError(
      `the window holds ${slots} slots of ${settings.interval} for ${JSON.stringify(name)}; at most ${MAX_SLOTS}: narrow --from/--to`,
    );
  }
  const [first] = await tm.listTasks({ name, limit: 1 });
  const tasks: Task[] = [];
  let after: { name: string; slot: Date } | undefined;
  for (;;) {
    const page = await tm.listTasks({
      name,
      from: range.from,
      to: range.to,
      limit: MAX_SLOTS,
      ...(after ? { after } : {}),
    });
    tasks.push(...page);
    const last = page.at(-1);
    if (!last || page.length < MAX_SLOTS) break;
    after = { name, slot: last.slot };
  }
  return summarizeName({
    name,
    interval: settings.interval,
    intervalMs: settings.intervalMs,
    maxAttempts: settings.maxAttempts,
    originMs: settings.origin.getTime(),
    firstSlot: first?.slot ?? null,
    from: range.from,
    to: range.to,
    now,
    tasks,
    maxCells,
  });
}
