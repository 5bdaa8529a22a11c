import { parseRetention } from '@dtm/core';
import { parseCommandArgs, UsageError } from '../args.ts';
import { COMMON_HELP, type Command, printJson, resolveSchema, withManager } from '../command.ts';

const DEFAULT_RETENTION = 'P30D';

export const pruneCommand: Command = {
  name: 'prune',
  summary: "Delete old history, keeping each slot's latest transition",
  help: `Usage: dtm prune [--older-than <duration>] [--dry-run]

Deletes the history rows (transitions) recorded longer ago than --older-than, except each slot's latest
transition, which is kept so that \`dtm history\` still says how a slot got where it is. Slots are never
deleted. Works in small batches, each a transaction of its own, and never makes a worker wait: safe while
workers run. One pruner per schema at a time: while another one works (an API sidecar, which prunes hourly by
itself, see DTM_HISTORY_RETENTION; or another \`dtm prune\`), nothing is done.

Options:
  --older-than <duration>  ISO-8601 duration of fixed length, PT1H to P36500D (default: P30D)
  --dry-run                Count the rows that would be deleted, delete nothing

Exit status: 0 (also when there was nothing to delete); 1 if another process is pruning, or on a database
error; 2 on bad input.

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {
      'older-than': { type: 'string' },
      'dry-run': { type: 'boolean' },
    });
    if (positionals.length > 0)
      throw new UsageError(`prune takes no arguments, got ${positionals.join(' ')}`);
    const olderThan = values['older-than'] ?? DEFAULT_RETENTION;
    // Checked before connecting: a bad value must not start an embedded database first.
    parseRetention(olderThan, '--older-than');
    const schema = resolveSchema(values.schema, context.env);
    const isDryRun = values['dry-run'] ?? false;
    const { deleted, batches } = await withManager(context, schema, (tm) =>
      tm.pruneHistory({ olderThan, dryRun: isDryRun }),
    );
    if (values.json) {
      printJson(context.io, { deleted, batches, olderThan, dryRun: isDryRun });
      return 0;
    }
    const verb = isDryRun ? 'would delete' : 'deleted';
    context.io.out(
      `${verb} ${deleted} history row${deleted === 1 ? '' : 's'} older than ${olderThan} (each slot keeps its latest transition) in ${batches} batch${batches === 1 ? '' : 'es'}`,
    );
    return 0;
  },
};
