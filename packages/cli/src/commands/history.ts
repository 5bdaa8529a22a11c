import { parseCommandArgs, parseTime, UsageError } from '../args.ts';
import {
  COMMON_HELP,
  type Command,
  OperationalError,
  printJson,
  resolveSchema,
  withManager,
} from '../command.ts';
import { formatTime, paint } from '../output.ts';

export const historyCommand: Command = {
  name: 'history',
  summary: 'Every transition of one slot, with actor and reason',
  help: `Usage: dtm history <name> <slot>

Shows the slot's live state (and its holder when a worker runs it now), then every committed transition,
oldest first: when, from which state to which, who, and the message (failure, reason, note).

Exit status: 0; 1 if the slot does not exist; 2 on bad input.

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {});
    const [name, slotText, ...rest] = positionals;
    if (name === undefined || slotText === undefined || rest.length > 0) {
      throw new UsageError('history needs a task name and one slot');
    }
    const slot = parseTime(slotText, 'slot', context.now);
    const schema = resolveSchema(values.schema, context.env);
    const { task, history } = await withManager(context, schema, async (tm) => ({
      task: await tm.getTask(name, slot),
      history: await tm.history(name, slot),
    }));
    if (!task)
      throw new OperationalError('NOT_FOUND', `no slot ${JSON.stringify(name)} @ ${slot.toISOString()}`);
    if (values.json) {
      printJson(context.io, { task, history });
      return 0;
    }
    const { io } = context;
    const holder = task.holder ? `, held by ${task.holder.worker ?? 'a worker'}` : '';
    const attempts = task.failedAttempts > 0 ? `, ${task.failedAttempts} failed attempts` : '';
    io.out(
      `${paint(`${name} @ ${formatTime(task.slot)}`, 'bold', io.isColor)}  ${task.state}${holder}${attempts}`,
    );
    for (const entry of history) {
      const from = entry.fromState ?? 'created';
      const message = entry.message ? `  ${entry.message}` : '';
      io.out(`  ${entry.at.toISOString()}  ${from} -> ${entry.toState}  by ${entry.actor ?? '?'}${message}`);
    }
    return 0;
  },
};
