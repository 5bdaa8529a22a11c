import { parseCommandArgs, UsageError } from '../args.ts';
import { COMMON_HELP, type Command, printJson, resolveSchema, withManager } from '../command.ts';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: "Create or upgrade DTM's tables in the schema",
  help: `Usage: dtm migrate [--schema <name>]

Creates or upgrades DTM's tables in the schema. Idempotent; safe to run from many processes at once.

${COMMON_HELP}`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, {});
    if (positionals.length > 0)
      throw new UsageError(`migrate takes no arguments, got ${positionals.join(' ')}`);
    const schema = resolveSchema(values.schema, context.env);
    await withManager(context, schema, (tm) => tm.migrate());
    if (values.json) printJson(context.io, { schema, migrated: true });
    else context.io.out(`schema ${schema} is migrated`);
    return 0;
  },
};
