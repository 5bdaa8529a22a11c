import { TASK_STATES } from '@dtm/core';
import { z } from 'zod';

// The zod schemas of every query, body and response of docs/http-api.md. Routes parse their input with the
// input schemas; the OpenAPI document is generated from all of them, so the two cannot drift apart.

const MIN_TIME = Date.UTC(1, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

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
const cellStateEnum = z.enum(['COMPLETE', 'ACQUIRED', 'AVAILABLE', 'FAILING', 'SKIP', 'MISSING', 'FUTURE']);

/** Grid cell states, worst first: a bucket is drawn by its worst slot. */
export const CELL_STATES_WORST_FIRST = [
  'FAILING',
  'MISSING',
  'AVAILABLE',
  'ACQUIRED',
  'SKIP',
  'COMPLETE',
  'FUTURE',
] as const;
export type CellState = (typeof CELL_STATES_WORST_FIRST)[number];

const booleanText = z.enum(['true', 'false', '1', '0']).transform((text) => text === 'true' || text === '1');

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
  state: z
    .array(z.string().max(100))
    .max(20)
    .transform((values) => values.flatMap((value) => value.split(',')).filter((value) => value !== ''))
    .pipe(z.array(stateEnum))
    .optional()
    .meta({ description: 'Live states; repeat the parameter or separate with commas' }),
  failing: booleanText.optional().meta({ description: 'Only AVAILABLE slots with failed attempts' }),
  limit: wholeNumberText(1, 1000).optional().meta({ description: 'Page size, default 100, max 1000' }),
  cursor: z.string().max(1000).optional().meta({ description: 'The `nextCursor` of the previous page' }),
});

/** `GET /api/grid`. */
export const gridQuery = z.object({
  names: z.array(z.string().max(100_000)).max(500).optional().meta({
    description: 'Comma-separated names (default: every name); repeat `name` for names with commas',
  }),
  name: z
    .array(taskName)
    .max(500)
    .optional()
    .meta({ description: 'One exact name per parameter (for names that contain commas)' }),
  from: isoDate,
  to: isoDate,
  columns: wholeNumberText(1, 2000)
    .optional()
    .meta({ description: 'Most cells per row, default 200, max 2000' }),
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
  return z.strictObject(selectionBody(maxSlots)).refine(exactlyOneSelection, SELECTION_MESSAGE);
}

/** `POST /api/skip`. */
export function skipBody(maxSlots: number) {
  return z
    .strictObject({ ...selectionBody(maxSlots), includeComplete: z.boolean().optional() })
    .refine(exactlyOneSelection, SELECTION_MESSAGE);
}

/** `POST /api/backfill`. */
export const backfillBody = z.strictObject({
  name: taskName,
  from: isoDate,
  to: isoDate,
  dryRun: z.boolean().optional(),
});

// ---------- responses ----------

const isoString = z.string().meta({ description: 'ISO-8601 UTC', example: '2026-11-28T04:05:00.000Z' });

export const errorResponse = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const holderSchema = z.object({ worker: z.string().nullable(), since: isoString.nullable() });

export const taskSchema = z.object({
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
  nextAttemptAt: isoString.nullable(),
  holder: holderSchema.nullable().meta({ description: 'Set exactly when state is ACQUIRED' }),
});

export const historyEntrySchema = z.object({
  id: z.number().int(),
  fromState: stateEnum.nullable(),
  toState: stateEnum,
  actor: z.string().nullable(),
  message: z.string().nullable(),
  at: isoString,
});

export const healthResponse = z.object({ ok: z.boolean(), database: z.enum(['up', 'down']) });

export const whoamiResponse = z.object({
  isReadOnly: z.boolean(),
  canWrite: z.boolean(),
  actor: z.string().nullable(),
});

export const namesResponse = z.object({
  names: z.array(
    z.object({
      name: z.string(),
      interval: z.string(),
      intervalMs: z.number().int(),
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
});

export const tasksResponse = z.object({ tasks: z.array(taskSchema), nextCursor: z.string().nullable() });

export const taskResponse = z.object({ task: taskSchema, history: z.array(historyEntrySchema) });

export const gridCellSchema = z.object({
  start: isoString,
  end: isoString,
  state: cellStateEnum,
  counts: z.partialRecord(cellStateEnum, z.number().int()),
  failedAttempts: z.number().int(),
  message: z.string().nullable(),
  holder: holderSchema.nullable(),
});

export const gridResponse = z.object({
  from: isoString,
  to: isoString,
  now: isoString,
  rows: z.array(
    z.object({
      name: z.string(),
      interval: z.string(),
      intervalMs: z.number().int(),
      slotsPerCell: z.number().int(),
      summary: z.object({ missing: z.number().int(), failing: z.number().int(), running: z.number().int() }),
      cells: z.array(gridCellSchema),
    }),
  ),
});

export const requeueResponse = z.object({
  outcomes: z.array(
    z.object({ slot: isoString, outcome: z.enum(['requeued', 'busy', 'not_found', 'unchanged']) }),
  ),
  counts: z.object({
    requeued: z.number().int(),
    busy: z.number().int(),
    notFound: z.number().int(),
    unchanged: z.number().int(),
  }),
});

export const skipResponse = z.object({
  outcomes: z.array(z.object({ slot: isoString, outcome: z.enum(['skipped', 'busy', 'unchanged']) })),
  counts: z.object({ skipped: z.number().int(), busy: z.number().int(), unchanged: z.number().int() }),
});

export const backfillResponse = z.object({ created: z.number().int(), slots: z.array(isoString) });
