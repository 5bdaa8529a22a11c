import { parseCommandArgs, requireText } from '../args.ts';
import {
  COMMON_HELP,
  type Command,
  OperationalError,
  printJson,
  resolveActor,
  resolveSchema,
  withManager,
} from '../command.ts';
import { formatTime } from '../output.ts';
import { parseSelection } from '../selection.ts';
import { explainBusy, printOutcomes } from './outcomes.ts';

export const skipCommand: Command = {
  name: 'skip',
  summary: 'Mark slots that should not be processed as SKIP (gaps included); un-skip with requeue',
  help: `Usage: dtm skip <name> <slot>... --reason <text> [--actor <who>] [--include-complete] [--dry-run]
       dtm skip <name> --from <time> --to <time> --reason <text> [--actor <who>] [--include-complete] [--dry-run]

Marks AVAILABLE slots (failing ones included) and missing ones (gaps, created on the way) as SKIP, with the
reason as their message, in one transaction. A slot that a worker holds right now is never waited on nor
touched: it is reported busy. COMPLETE slots stay as they are unless --include-complete.
Un-skip a slot with \`dtm requeue\`.

Options:
  --reason <text>      Why (required; shown on the slot and recorded in the history)
  --actor <who>        Recorded as the actor (default: cli:<login>)
  --from, --to         A range instead of slots: ISO-8601, now, or now-24h; --to is exclusive
  --include-complete   Skip COMPLETE slots too
  --dry-run            Report what would change, change nothing

Exit status: 0 when anything was skipped or unchanged; 1 when every slot is busy; 2 on bad input (nothing
is changed).

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {
      reason: { type: 'string' },
      actor: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'include-complete': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
    });
    const selection = parseSelection('skip', positionals, values, context.now);
    const reason = requireText(values.reason, '--reason');
    const actor = resolveActor(values.actor);
    const schema = resolveSchema(values.schema, context.env);
    const isDryRun = values['dry-run'] ?? false;
    const { result, busy } = await withManager(context, schema, async (tm) => {
      const result = await tm.skip(selection, {
        reason,
        actor,
        dryRun: isDryRun,
        includeComplete: values['include-complete'] ?? false,
      });
      return { result, busy: await explainBusy(tm, selection.name, result.outcomes) };
    });
    const { counts } = result;
    const total = result.outcomes.length;
    if (values.json) {
      printJson(context.io, { outcomes: result.outcomes, counts, dryRun: isDryRun });
    } else {
      const verb = isDryRun ? 'would skip' : 'skipped';
      context.io.out(
        `${verb} ${counts.skipped} of ${total} slot${total === 1 ? '' : 's'} of ${selection.name}: busy ${counts.busy}, unchanged ${counts.unchanged}`,
      );
      printOutcomes(context.io, result.outcomes, 'skipped', busy);
    }
    if (total > 0 && counts.busy === total) {
      const first = result.outcomes[0];
      const holder = first ? busy.get(first.slot.getTime()) : undefined;
      throw new OperationalError(
        'BUSY',
        total === 1 && first
          ? `refused: ${formatTime(first.slot)} is running right now${holder ? ` (held by ${holder})` : ''}; a running slot is never skipped`
          : `refused: all ${total} slots are running right now; a running slot is never skipped`,
      );
    }
    return 0;
  },
};
