import { BadInputError } from './errors.ts';

/** A validated schema name and its quoted SQL form, checked once when the TaskManager is built. */
export interface Schema {
  name: string;
  sql: string;
  /** The LISTEN/NOTIFY channel on which committed transitions are announced. */
  channel: string;
  /** The channel on which the names of slots that became AVAILABLE are announced: what wakes workers. */
  workChannel: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/;

export function toSchema(name: string): Schema {
  if (!SCHEMA_NAME.test(name)) {
    throw new BadInputError(
      `invalid schema name ${JSON.stringify(name)}: use 1–50 lowercase letters, digits or underscores, not starting with a digit`,
    );
  }
  return { name, sql: `"${name}"`, channel: `${name}.events`, workChannel: `${name}.work` };
}
