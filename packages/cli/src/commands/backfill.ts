import { parseCommandArgs, parseRange, UsageError } from '../args.ts';
import {
  COMMON_HELP,
  type Command,
  printJson,
  resolveActor,
  resolveSchema,
  withManager,
} from '../command.ts';
import { formatTime } from '../output.ts';

const LISTED = 20;

export const backfillCommand: Command = {
  name: 'backfill',
  summary: 'Create the missing slots (gaps) of a task name in a range',
  help: `Usage: dtm backfill <name> --from <time> --to <time> [--actor <who>] [--dry-run]

Creates every missing slot of an existing task name in [--from, --to) as AVAILABLE, so that workers
process them; existing slots are left as they are. Idempotent. At most 10,000 slots per call.

Options:
  --from, --to    The range: ISO-8601 (2026-11-28T00:00Z), now, or now-24h; --to is exclusive (required)
  --actor <who>   Recorded as the creator (default: cli:<login>)
  --dry-run       Report what would be created, create nothing

Exit status: 0 (also when there was nothing to fill); 1 if the name is unknown; 2 on bad input.

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {
      from: { type: 'string' },
      to: { type: 'string' },
      actor: { type: 'string' },
      'dry-run': { type: 'boolean' },
    });
    const [name, ...rest] = positionals;
    if (name === undefined || name === '') throw new UsageError('backfill needs a task name');
    if (rest.length > 0)
      throw new UsageError(`backfill takes one task name and a range, got ${positionals.join(' ')}`);
    const range = parseRange(values, context.now);
    if (!range) throw new UsageError('backfill needs --from and --to');
    const actor = resolveActor(values.actor);
    const schema = resolveSchema(values.schema, context.env);
    const isDryRun = values['dry-run'] ?? false;
    const slots = await withManager(context, schema, (tm) =>
      tm.backfill({ name, from: range.from, to: range.to, createdBy: actor, dryRun: isDryRun }),
    );
    if (values.json) {
      printJson(context.io, { created: slots.length, slots, dryRun: isDryRun });
      return 0;
    }
    const verb = isDryRun ? 'would create' : 'created';
    context.io.out(`${verb} ${slots.length} missing slot${slots.length === 1 ? '' : 's'} of ${name}`);
    for (const slot of slots.slice(0, LISTED)) context.io.out(`  ${formatTime(slot)}`);
    if (slots.length > LISTED) context.io.out(`  … and ${slots.length - LISTED} more`);
    return 0;
  },
};
