import { UsageError } from './args.ts';
import { type Command, type Context, describeError } from './command.ts';
import { backfillCommand } from './commands/backfill.ts';
import { historyCommand } from './commands/history.ts';
import { migrateCommand } from './commands/migrate.ts';
import { pruneCommand } from './commands/prune.ts';
import { requeueCommand } from './commands/requeue.ts';
import { serveCommand } from './commands/serve.ts';
import { skipCommand } from './commands/skip.ts';
import { statusCommand } from './commands/status.ts';
import { processIo } from './output.ts';

/** Every command, in the order `dtm --help` lists them. */
export const COMMANDS: readonly Command[] = [
  statusCommand,
  requeueCommand,
  skipCommand,
  backfillCommand,
  historyCommand,
  pruneCommand,
  migrateCommand,
  serveCommand,
];

const HELP = `dtm: operate DTM (exactly-once processing of task name × time slot, on PostgreSQL)

Usage: dtm <command> [options]

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(10)}${command.summary}`).join('\n')}

Run \`dtm <command> --help\` for a command's arguments and options.
Exit status: 0 success, 1 operational error (not found, busy, database), 2 bad usage or input.`;

/** Runs `dtm` with `argv` (without node and the script); returns the exit status. */
export async function main(argv: string[], context: Context = processContext()): Promise<number> {
  const [name, ...args] = argv;
  const isJson = args.includes('--json');
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      const topic = name === 'help' ? args[0] : undefined;
      const command = COMMANDS.find((candidate) => candidate.name === topic);
      context.io.out(command ? command.help : HELP);
      return name === undefined ? 2 : 0;
    }
    const command = COMMANDS.find((candidate) => candidate.name === name);
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    if (args.includes('--help') || args.includes('-h')) {
      context.io.out(command.help);
      return 0;
    }
    return await command.run(args, context);
  } catch (error) {
    const { status, code, message } = describeError(error);
    if (isJson) context.io.err(JSON.stringify({ error: { code, message } }));
    else {
      context.io.err(`dtm: ${message}`);
      if (status === 2) {
        const command = COMMANDS.find((candidate) => candidate.name === name);
        context.io.err(
          command ? `Run \`dtm ${command.name} --help\` for usage.` : 'Run `dtm --help` for usage.',
        );
      }
    }
    return status;
  }
}

function processContext(): Context {
  return { io: processIo(), env: process.env, now: new Date() };
}
