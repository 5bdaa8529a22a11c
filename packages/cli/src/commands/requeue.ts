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

export const requeueCommand: Command = {
  name: 'requeue',
  summary: 'Make finished or skipped slots AVAILABLE again, never touching a running one',
  help: `Usage: dtm requeue <name> <slot>... --reason <text> [--actor <who>] [--dry-run]
       dtm requeue <name> --from <time> --to <time> --reason <text> [--actor <who>] [--dry-run]

The guarded re-queue: COMPLETE and SKIP slots become AVAILABLE (attempts reset) so that a worker processes
them again; a failing slot waiting out its backoff becomes due now. A slot that a worker holds right now is
never waited on nor touched: it is reported busy. One transaction; the history records actor and reason.
With a range, only existing slots count (fill gaps with \`dtm backfill\`).

Options:
  --reason <text>   Why (required; recorded in the history)
  --actor <who>     Recorded as the actor (default: cli:<login>)
  --from, --to      A range instead of slots: ISO-8601, now, or now-24h; --to is exclusive
  --dry-run         Report what would change, change nothing

Exit status: 0 when anything was re-queued or unchanged; 1 when every slot is busy or none exists;
2 on bad input (nothing is changed).

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {
      reason: { type: 'string' },
      actor: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'dry-run': { type: 'boolean' },
    });
    const selection = parseSelection('requeue', positionals, values, context.now);
    const reason = requireText(values.reason, '--reason');
    const actor = resolveActor(values.actor);
    const schema = resolveSchema(values.schema, context.env);
    const isDryRun = values['dry-run'] ?? false;
    const { result, busy } = await withManager(context, schema, async (tm) => {
      const result = await tm.requeue(selection, { reason, actor, dryRun: isDryRun });
      return { result, busy: await explainBusy(tm, selection.name, result.outcomes) };
    });
    const { counts } = result;
    const total = result.outcomes.length;
    if (values.json) {
      printJson(context.io, {
        outcomes: result.outcomes,
        counts: {
          requeued: counts.requeued,
          busy: counts.busy,
          notFound: counts.not_found,
          unchanged: counts.unchanged,
        },
        dryRun: isDryRun,
      });
    } else {
      const verb = isDryRun ? 'would re-queue' : 're-queued';
      context.io.out(
        `${verb} ${counts.requeued} of ${total} slot${total === 1 ? '' : 's'} of ${selection.name}: busy ${counts.busy}, not found ${counts.not_found}, unchanged ${counts.unchanged}`,
      );
      printOutcomes(context.io, result.outcomes, 'requeued', busy);
    }
    if (total === 0) {
      throw new OperationalError('NOT_FOUND', `no slots of ${JSON.stringify(selection.name)} in that range`);
    }
    if (counts.not_found === total) {
      throw new OperationalError('NOT_FOUND', `no such slot of ${JSON.stringify(selection.name)}`);
    }
    if (counts.busy === total) {
      const first = result.outcomes[0];
      const holder = first ? busy.get(first.slot.getTime()) : undefined;
      throw new OperationalError(
        'BUSY',
        total === 1 && first
          ? `refused: ${formatTime(first.slot)} is running right now${holder ? ` (held by ${holder})` : ''}; a running slot is never re-queued, try again after it ends`
          : `refused: all ${total} slots are running right now; a running slot is never re-queued`,
      );
    }
    return 0;
  },
};
