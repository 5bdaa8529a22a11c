import type { TaskManager } from '@dtm/core';
import { parseCommandArgs, parseRange, UsageError } from '../args.ts';
import { COMMON_HELP, type Command, printJson, resolveSchema, withManager } from '../command.ts';
import { LISTED, type NameStatus, renderLegend, renderName, summarizeName } from '../status-grid.ts';

const DEFAULT_WINDOW_MS = 86_400_000;

export const statusCommand: Command = {
  name: 'status',
  summary: 'A compact grid per task name with counts, gaps, failures and running slots',
  help: `Usage: dtm status [name] [--from <time> --to <time>] [--width <cells>]

Shows each task name (or just <name>) over a window as one line of cells, oldest first:
  # complete   > running   . pending   ! failing   - skipped   ? missing (a gap)
then the counts per state, the gaps, the failing slots with their last message, and who runs what.
A cell holds several slots when the window has more slots than --width; it then shows the worst of them
(failing, missing, pending, running, skipped, complete), and cells are aligned to multiples of their size,
so the first and last may hold fewer. A gap is a slot with no row between the name's first slot and now;
slots before a name's first slot are blank. The cells and counts are those of the API's grid and of
dtm_missing_slots. Colored on a terminal unless NO_COLOR is set (FORCE_COLOR=1 colors a pipe).

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
    const statuses = await withManager(context, schema, (tm) =>
      readStatuses(tm, positionals[0] === undefined ? null : [positionals[0]], range, context.now, maxCells),
    );
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

/** The names' rows of the core's grid, with each name's first failing slots and its holders. */
async function readStatuses(
  tm: TaskManager,
  names: string[] | null,
  range: { from: Date; to: Date },
  now: Date,
  maxCells: number,
): Promise<NameStatus[]> {
  const [grid, held] = await Promise.all([
    tm.grid({ names, from: range.from, to: range.to, columns: maxCells, now }),
    tm.listHolders({ ...(names ? { names } : {}), from: range.from, to: range.to }),
  ]);
  return Promise.all(
    grid.rows.map(async (row) => {
      const failing =
        row.summary.failing > 0
          ? await tm.listTasks({
              name: row.name,
              from: range.from,
              to: range.to,
              isFailing: true,
              limit: LISTED,
            })
          : [];
      return summarizeName(
        row,
        range,
        failing,
        held.filter((slot) => slot.name === row.name),
      );
    }),
  );
}
