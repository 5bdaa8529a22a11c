import { CELL_STATE_CODES, CELL_STATES_WORST_FIRST, TASK_STATES } from '@dtm/core';
import { z } from 'zod';

// The zod schemas of every query, body and response of docs/http-api.md. Each route's definition
// (`createRoute` in routes/*.ts) names its schemas: the route validates its input with them and the OpenAPI
// document is generated from the same definitions, so the two cannot drift apart. A schema with an `id` is a
// component of the document (`#/components/schemas/<id>`).

// Parsed rather than Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
const MIN_TIME = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/** An ISO-8601 date-time with `Z` or an offset, between years 1 and 9999; parsed to a Date. */
export const isoDate = z
  .string()
  .max(40)
  .pipe(z.iso.datetime({ offset: true }))
  .transform((text) => new Date(text))
  .refine((date) => !Number.isNaN(date.getTime()), 'not a real date')
  .refine((date) => date.getTime() >= MIN_TIME && date.getTime() <= MAX_TIME, 'year must be 1–9999')
  .meta({
    description: 'ISO-8601 date-time, e.g. 2026-11-28T04:05:00.000Z',
    example: '2026-11-28T04:05:00Z',
  });

/** A task name: 1–200 characters, no NUL (what the core accepts). */
export const taskName = z
  .string()
  .refine((name) => {
    const length = [...name].length;
    return length >= 1 && length <= 200;
  }, 'task name must be 1–200 characters')
  .refine((name) => !name.includes('\u0000'), 'task name must not contain NUL')
  .meta({ description: 'Task name, 1–200 characters' });

const stateEnum = z.enum(TASK_STATES as ['AVAILABLE', 'ACQUIRED', 'COMPLETE', 'SKIP']);

const booleanText = z.enum(['true', 'false', '1', '0']).transform((text) => text === 'true' || text === '1');

/**
 * A query parameter that may repeat: the validator hands one value as a string and several as an array, and
 * both reach `items` as an array.
 */
function repeatable<T extends z.ZodType>(items: T) {
  return z.preprocess((value) => (typeof value === 'string' ? [value] : value), items);
}

function wholeNumberText(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,7}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

// ---------- queries ----------

/** `GET /api/tasks`. `state` may repeat or be comma-separated. */
export const tasksQuery = z.object({
  name: taskName.optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
  state: repeatable(
    z
      .array(z.string().max(100))
      .max(20)
      .transform((values) => values.flatMap((value) => value.split(',')).filter((value) => value !== ''))
      .pipe(z.array(stateEnum)),
  )
    .optional()
    .meta({ description: 'Live states; repeat the parameter or separate with commas' }),
  failing: booleanText.optional().meta({ description: 'Only AVAILABLE slots with failed attempts' }),
  limit: wholeNumberText(1, 1000).optional().meta({ description: 'Page size, default 100, max 1000' }),
  cursor: z.string().max(1000).optional().meta({ description: 'The `nextCursor` of the previous page' }),
});

/** `GET /api/grid`. */
export const gridQuery = z.object({
  names: repeatable(z.array(z.string().max(100_000)).max(500))
    .optional()
    .meta({
      description: 'Comma-separated names (default: every name); repeat `name` for names with commas',
    }),
  name: repeatable(z.array(taskName).max(500))
    .optional()
    .meta({ description: 'One exact name per parameter (for names that contain commas)' }),
  from: isoDate,
  to: isoDate,
  columns: wholeNumberText(1, 2000)
    .optional()
    .meta({ description: 'Most cells per row, default 200, max 2000' }),
});

/** `GET /api/tasks/{name}/{slot}`. */
export const taskParams = z.object({
  name: taskName.meta({ description: 'Task name, URL-encoded' }),
  slot: isoDate.meta({ description: 'Slot start, ISO-8601, URL-encoded' }),
});

// ---------- bodies ----------

const reason = z
  .string()
  .min(1)
  .max(500)
  .refine((text) => text.trim().length > 0, 'reason must not be blank');

function selectionBody(maxSlots: number) {
  return {
    name: taskName,
    slots: z.array(isoDate).min(1).max(maxSlots).optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    reason: reason.refine((text) => !text.includes('\u0000'), 'reason must not contain NUL'),
    dryRun: z.boolean().optional(),
  };
}

function exactlyOneSelection(body: { slots?: unknown; from?: unknown; to?: unknown }): boolean {
  const hasSlots = body.slots !== undefined;
  const hasRange = body.from !== undefined || body.to !== undefined;
  return hasSlots ? !hasRange : body.from !== undefined && body.to !== undefined;
}
const SELECTION_MESSAGE = 'give either slots, or both from and to';

/** `POST /api/requeue`. */
export function requeueBody(maxSlots: number) {
  return z
    .strictObject(selectionBody(maxSlots))
    .refine(exactlyOneSelection, SELECTION_MESSAGE)
    .meta({ id: 'RequeueRequest' });
}

/** `POST /api/skip`. */
export function skipBody(maxSlots: number) {
  return z
    .strictObject({ ...selectionBody(maxSlots), includeComplete: z.boolean().optional() })
    .refine(exactlyOneSelection, SELECTION_MESSAGE)
    .meta({ id: 'SkipRequest' });
}

/** `POST /api/backfill`. */
export const backfillBody = z
  .strictObject({
    name: taskName,
    from: isoDate,
    to: isoDate,
    dryRun: z.boolean().optional(),
  })
  .meta({ id: 'BackfillRequest' });

// ---------- responses ----------

const isoString = z.string().meta({ description: 'ISO-8601 UTC', example: '2026-11-28T04:05:00.000Z' });

export const errorResponse = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .meta({ id: 'Error' });

export const holderSchema = z
  .object({ worker: z.string().nullable(), since: isoString.nullable() })
  .meta({ id: 'Holder' });

export const taskSchema = z
  .object({
    name: z.string(),
    slot: isoString,
    interval: z.string().meta({ example: 'PT5M' }),
    intervalMs: z.number().int(),
    state: stateEnum,
    createdBy: z.string().nullable(),
    createdAt: isoString,
    acquiredBy: z.string().nullable(),
    acquiredAt: isoString.nullable(),
    completedAt: isoString.nullable(),
    failedAttempts: z.number().int(),
    message: z.string().nullable(),
    nextAttemptAt: isoString.nullable().meta({
      description: 'When a failed slot may be retried; null means due now (unless hasGivenUp)',
    }),
    hasGivenUp: z.boolean().meta({
      description: "Reached its name's maxAttempts: not retried automatically until re-queued",
    }),
    holder: holderSchema.nullable().meta({ description: 'Set exactly when state is ACQUIRED' }),
  })
  .meta({ id: 'Task' });

export const historyEntrySchema = z
  .object({
    id: z.number().int().meta({
      description: "The history row that recorded it: an attempt's start and its end share their row",
    }),
    fromState: stateEnum.nullable(),
    toState: stateEnum,
    actor: z.string().nullable(),
    message: z.string().nullable(),
    at: isoString,
  })
  .meta({ id: 'HistoryEntry' });

export const healthResponse = z
  .object({ ok: z.boolean(), database: z.enum(['up', 'down']) })
  .meta({ id: 'Health' });

export const whoamiResponse = z
  .object({
    isReadOnly: z.boolean(),
    canWrite: z.boolean(),
    actor: z.string().nullable(),
  })
  .meta({ id: 'Whoami' });

export const namesResponse = z
  .object({
    names: z.array(
      z.object({
        name: z.string(),
        interval: z.string(),
        intervalMs: z.number().int(),
        maxAttempts: z.number().int().nullable().meta({
          description: 'After this many failed or abandoned attempts a slot is given up on; null: never',
        }),
        firstSlot: isoString.nullable(),
        lastSlot: isoString.nullable(),
        counts: z.object({
          AVAILABLE: z.number().int(),
          ACQUIRED: z.number().int(),
          COMPLETE: z.number().int(),
          SKIP: z.number().int(),
        }),
        failing: z.number().int(),
        oldestDueSlot: isoString.nullable(),
      }),
    ),
  })
  .meta({ id: 'Names' });

export const tasksResponse = z
  .object({ tasks: z.array(taskSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'TaskPage' });

export const taskResponse = z
  .object({ task: taskSchema, history: z.array(historyEntrySchema) })
  .meta({ id: 'TaskWithHistory' });

// The letter of each cell state in a grid row's `states` and in a detail's counts: the letter at index i codes
// `CELL_STATES_WORST_FIRST[i]`, so F FAILING, M MISSING, A AVAILABLE, R ACQUIRED (running), S SKIP, C COMPLETE,
// U FUTURE (upcoming), B BEFORE_FIRST (before the name's first slot: not expected, not a gap).
const CODES_TEXT = [...CELL_STATE_CODES].map((code, i) => `${code} ${CELL_STATES_WORST_FIRST[i]}`).join(', ');
/** One cell letter, for the patterns of `states` and of a detail's counts. */
const CODE_CLASS = `[${CELL_STATE_CODES}]`;

/**
 * What a cell's letter does not say, as a tuple whose trailing defaults are left out (a mixed bucket is
 * `[cell, counts]`, a held slot `[cell, null, 0, null, holder]`).
 */
export const gridCellDetailSchema = z
  .tuple([
    z.number().int().min(0).meta({ description: 'Index of the cell in its row' }),
    z
      .string()
      .regex(new RegExp(`^(${CODE_CLASS}\\d+)+$`))
      .nullable()
      .optional()
      .meta({
        description:
          'Slots per state, worst first, as letter and count (`F1C10`: one FAILING, ten COMPLETE), when the slots of the cell are in more than one state; null or absent: every slot of the cell is in the state of its letter',
      }),
    z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'The most failed attempts of any slot; absent: 0' }),
    z.number().int().min(0).nullable().optional().meta({
      description: 'Index in `messages` of the message of the worst slot that has one; absent: none',
    }),
    holderSchema
      .nullable()
      .optional()
      .meta({ description: 'The worker holding a running slot; absent: none' }),
  ])
  .meta({
    id: 'GridCellDetail',
    description: '[cell, counts, failedAttempts, message, holder]: the cells that need more than a letter',
  });

export const gridRowSchema = z
  .object({
    name: z.string(),
    interval: z.string(),
    intervalMs: z.number().int(),
    firstStart: isoString.meta({
      description: 'The first slot at or after `from`: the start of cell 0',
    }),
    slotsPerCell: z.number().int().min(1).meta({
      description:
        "Slots per cell. Cells are aligned to multiples of it from the name's origin, so a cell holds the same slots however the window moves; the first and the last cell may hold fewer",
    }),
    firstCellSlots: z.number().int().min(0).meta({ description: 'Slots in cell 0 (at most slotsPerCell)' }),
    slotCount: z.number().int().min(0).meta({
      description: "The interval's slots in the window, those before the name's first slot included",
    }),
    cellCount: z.number().int().min(0).meta({
      description:
        'Cell 0 holds the first firstCellSlots slots from firstStart; cell i ≥ 1 holds the slots from firstCellSlots + (i − 1) × slotsPerCell up to (not including) min(slotCount, firstCellSlots + i × slotsPerCell), each intervalMs long',
    }),
    summary: z.object({
      missing: z.number().int().meta({
        description: "MISSING slots of the row (gaps: started, no row, not before the name's first slot)",
      }),
      failing: z.number().int(),
      running: z.number().int(),
    }),
    states: z
      .string()
      .regex(new RegExp(`^${CODE_CLASS}*$`))
      .meta({ description: `One letter per cell, its worst state: ${CODES_TEXT}`, example: 'BBCCFCMCU' }),
    details: z.array(gridCellDetailSchema).meta({
      description: 'In cell order; a cell without one has all its slots in the state of its letter',
    }),
  })
  .meta({ id: 'GridRow' });

export const gridResponse = z
  .object({
    from: isoString,
    to: isoString,
    now: isoString,
    messages: z.array(z.string()).meta({ description: 'The messages the details refer to, each once' }),
    rows: z.array(gridRowSchema),
  })
  .meta({ id: 'Grid' });

export const requeueResponse = z
  .object({
    outcomes: z.array(
      z.object({ slot: isoString, outcome: z.enum(['requeued', 'busy', 'not_found', 'unchanged']) }),
    ),
    counts: z.object({
      requeued: z.number().int(),
      busy: z.number().int(),
      notFound: z.number().int(),
      unchanged: z.number().int(),
    }),
  })
  .meta({ id: 'RequeueResult' });

export const skipResponse = z
  .object({
    outcomes: z.array(z.object({ slot: isoString, outcome: z.enum(['skipped', 'busy', 'unchanged']) })),
    counts: z.object({ skipped: z.number().int(), busy: z.number().int(), unchanged: z.number().int() }),
  })
  .meta({ id: 'SkipResult' });

export const backfillResponse = z
  .object({ created: z.number().int(), slots: z.array(isoString) })
  .meta({ id: 'BackfillResult' });
