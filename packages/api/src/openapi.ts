import { CELL_STATES_WORST_FIRST } from '@dtm/core';
import { z } from 'zod';
import type { Limits } from './deps.ts';
import {
  backfillBody,
  backfillResponse,
  errorResponse,
  gridCellDetailSchema,
  gridQuery,
  gridResponse,
  gridRowSchema,
  healthResponse,
  historyEntrySchema,
  holderSchema,
  namesResponse,
  requeueBody,
  requeueResponse,
  skipBody,
  skipResponse,
  taskResponse,
  taskSchema,
  tasksQuery,
  tasksResponse,
  whoamiResponse,
} from './schemas.ts';

type JsonSchema = Record<string, unknown>;

interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  description?: string;
  query?: z.ZodObject;
  pathParams?: Record<string, string>;
  body?: string;
  /** Status → component name of the body, or a media type with a description. */
  responses: Record<number, string | { description: string; mediaType: string }>;
  isWrite?: boolean;
}

const ERRORS = 'Error';

function toSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  });
  return rest;
}

function parameters(operation: Operation): JsonSchema[] {
  const params: JsonSchema[] = Object.entries(operation.pathParams ?? {}).map(([name, description]) => ({
    name,
    in: 'path',
    required: true,
    description,
    schema: { type: 'string' },
  }));
  for (const [name, field] of Object.entries(operation.query?.shape ?? {})) {
    const schema = toSchema(field as z.ZodType);
    const isArray = schema.type === 'array';
    params.push({
      name,
      in: 'query',
      required: !(field as z.ZodType).safeParse(undefined).success,
      ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
      schema,
      ...(isArray ? { style: 'form', explode: true } : {}),
    });
  }
  return params;
}

/**
 * The OpenAPI 3.1 document of the API, generated from the same zod schemas that validate requests, so the
 * two cannot disagree. Limits are those the server runs with.
 */
export function buildOpenApi(limits: Limits, version = '0.1.0'): JsonSchema {
  const registry = z.registry<{ id: string }>();
  const components: Array<[string, z.ZodType]> = [
    [ERRORS, errorResponse],
    ['Holder', holderSchema],
    ['Task', taskSchema],
    ['HistoryEntry', historyEntrySchema],
    ['GridCellDetail', gridCellDetailSchema],
    ['GridRow', gridRowSchema],
    ['Health', healthResponse],
    ['Whoami', whoamiResponse],
    ['Names', namesResponse],
    ['TaskPage', tasksResponse],
    ['TaskWithHistory', taskResponse],
    ['Grid', gridResponse],
    ['RequeueRequest', requeueBody(limits.maxSlotsPerRequest)],
    ['RequeueResult', requeueResponse],
    ['SkipRequest', skipBody(limits.maxSlotsPerRequest)],
    ['SkipResult', skipResponse],
    ['BackfillRequest', backfillBody],
    ['BackfillResult', backfillResponse],
  ];
  for (const [id, schema] of components) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  for (const schema of Object.values(schemas)) {
    delete schema.$schema;
    delete schema.$id;
  }

  const operations: Operation[] = [
    {
      method: 'get',
      path: '/api/health',
      summary: 'Liveness plus database reachability',
      responses: { 200: 'Health', 503: 'Health' },
    },
    {
      method: 'get',
      path: '/api/whoami',
      summary: 'Whether the server takes writes and whether the bearer token sent (if any) may write',
      responses: { 200: 'Whoami', 401: ERRORS },
    },
    {
      method: 'get',
      path: '/api/names',
      summary:
        'Every task name with its interval, first and last slot, counts by live state, failing and oldest due slot',
      responses: { 200: 'Names' },
    },
    {
      method: 'get',
      path: '/api/tasks',
      summary: 'Task rows with the live ACQUIRED overlay, ordered by name then slot, with cursor pagination',
      query: tasksQuery,
      responses: { 200: 'TaskPage', 400: ERRORS },
    },
    {
      method: 'get',
      path: '/api/tasks/{name}/{slot}',
      summary: 'One slot with its history (oldest first)',
      pathParams: { name: 'Task name, URL-encoded', slot: 'Slot start, ISO-8601, URL-encoded' },
      responses: { 200: 'TaskWithHistory', 400: ERRORS, 404: ERRORS },
    },
    {
      method: 'get',
      path: '/api/grid',
      summary:
        'The matrix of names × slots the dashboard draws, with MISSING/FUTURE/BEFORE_FIRST cells and buckets',
      description: `Cells are bucketed so that a row has at most \`columns\` cells; at most ${limits.maxGridNames} names per request; a request costs its cells, not the slots they cover. A cell's state is the worst inside it, in the order ${CELL_STATES_WORST_FIRST.join(', ')} (MISSING: a gap, from the name's first slot on; BEFORE_FIRST: before the name's first slot, not expected), sent as one letter per cell in a row's \`states\`; cells whose slots are in several states, or that have failed attempts, a message or a holder, also have an entry in \`details\`. Cell boundaries follow from \`firstStart\`, \`intervalMs\`, \`firstCellSlots\`, \`slotsPerCell\` and \`slotCount\`.`,
      query: gridQuery,
      responses: { 200: 'Grid', 400: ERRORS },
    },
    {
      method: 'post',
      path: '/api/requeue',
      summary:
        'Guarded re-queue: COMPLETE/SKIP become AVAILABLE, a backing-off slot becomes due; held slots are never touched',
      description: `At most ${limits.maxSlotsPerRequest} slots per request. 409 (with the outcomes) when nothing was re-queued because slots are busy; 404 when none of the slots exist.`,
      body: 'RequeueRequest',
      responses: {
        200: 'RequeueResult',
        400: ERRORS,
        401: ERRORS,
        403: ERRORS,
        404: ERRORS,
        409: ERRORS,
        413: ERRORS,
      },
      isWrite: true,
    },
    {
      method: 'post',
      path: '/api/skip',
      summary: 'Mark AVAILABLE (failing included) and MISSING slots SKIP; COMPLETE only with includeComplete',
      description: `At most ${limits.maxSlotsPerRequest} slots per request. 409 (with the outcomes) when nothing was skipped because slots are busy.`,
      body: 'SkipRequest',
      responses: {
        200: 'SkipResult',
        400: ERRORS,
        401: ERRORS,
        403: ERRORS,
        404: ERRORS,
        409: ERRORS,
        413: ERRORS,
      },
      isWrite: true,
    },
    {
      method: 'post',
      path: '/api/backfill',
      summary: 'Create the missing slots of an existing name in [from, to) as AVAILABLE (idempotent)',
      body: 'BackfillRequest',
      responses: { 200: 'BackfillResult', 400: ERRORS, 401: ERRORS, 403: ERRORS, 404: ERRORS, 413: ERRORS },
      isWrite: true,
    },
    {
      method: 'get',
      path: '/api/events',
      summary: 'Server-Sent Events: ready, transition, bulk, holders, resync; comment heartbeats',
      description:
        '`event: transition` data `{ name, slot, from, to, actor, at }`; `event: bulk` data `{ name, count }`; `event: holders` data `{ names }` when slots of those names were taken or let go without a committed transition (read once a second); `event: ready` once listening; `event: resync` after the server lost its database connection and got it back (reload: a change made without being recorded in the history shows then). Comment heartbeats.',
      responses: { 200: { description: 'The event stream', mediaType: 'text/event-stream' }, 503: ERRORS },
    },
    {
      method: 'get',
      path: '/metrics',
      summary:
        'Prometheus metrics: slots by name and state, failing, oldest due age, missing slots, HTTP requests',
      responses: { 200: { description: 'Prometheus text format', mediaType: 'text/plain' } },
    },
    {
      method: 'get',
      path: '/api/openapi.json',
      summary: 'This document',
      responses: { 200: { description: 'OpenAPI 3.1', mediaType: 'application/json' } },
    },
  ];

  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(op.responses)) {
      responses[status] =
        typeof response === 'string'
          ? {
              description: response === ERRORS ? 'Error' : 'OK',
              content: { 'application/json': { schema: { $ref: `#/components/schemas/${response}` } } },
            }
          : { description: response.description, content: { [response.mediaType]: { schema: {} } } };
    }
    const params = parameters(op);
    paths[op.path] ??= {};
    const pathItem = paths[op.path] ?? {};
    pathItem[op.method] = {
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: { $ref: `#/components/schemas/${op.body}` } } },
            },
          }
        : {}),
      ...(op.isWrite ? { security: [{ bearer: [] }] } : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'DTM API',
      version,
      description:
        'The DTM sidecar: task slots, guarded re-queue and skip, backfill, live events and metrics. Times are ISO-8601 UTC; ranges are half-open [from, to). Every error answers `{ error: { code, message } }`.',
    },
    servers: [{ url: '/' }],
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The API token (DTM_API_TOKEN)' },
        basic: { type: 'http', scheme: 'basic', description: 'Optional basic auth on reads' },
      },
    },
    paths,
  };
}
