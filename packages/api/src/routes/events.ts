import type { TaskEvent } from '@dtm/core';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import type { HubMessage } from '../event-hub.ts';
import { ApiError } from '../http-error.ts';
import { ERRORS } from '../openapi.ts';

/** A client that falls this far behind gets `resync` instead of the backlog. */
const MAX_QUEUED = 10_000;
/** How long a browser waits before reconnecting a dropped stream. */
const RETRY_MS = 3_000;

function toEventData(event: TaskEvent): { event: string; data: string } {
  if (event.kind === 'bulk')
    return { event: 'bulk', data: JSON.stringify({ name: event.name, count: event.count }) };
  return {
    event: 'transition',
    data: JSON.stringify({
      name: event.name,
      slot: event.slot.toISOString(),
      from: event.from,
      to: event.to,
      actor: event.actor,
      at: event.at.toISOString(),
    }),
  };
}

/**
 * A message as its Server-Sent Events frame. Every data is JSON on one line (JSON.stringify escapes line
 * breaks), so each frame is written out whole, and frames are written in batches.
 */
function frameOf(message: Exclude<HubMessage, { kind: 'closing' }> | 'heartbeat'): string {
  if (message === 'heartbeat') return ': heartbeat\n\n';
  let event: { event: string; data: string };
  if (message.kind === 'ready') return `event: ready\ndata: {}\nretry: ${RETRY_MS}\n\n`;
  if (message.kind === 'holders')
    event = { event: 'holders', data: JSON.stringify({ names: message.names }) };
  else if (message.kind === 'resync')
    event = { event: 'resync', data: JSON.stringify({ reason: 'reconnected' }) };
  else event = toEventData(message.event);
  return `event: ${event.event}\ndata: ${event.data}\n\n`;
}

const eventsRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'Server-Sent Events: ready, transition, bulk, holders, resync; comment heartbeats',
  description:
    '`event: transition` data `{ name, slot, from, to, actor, at }`; `event: bulk` data `{ name, count }`; `event: holders` data `{ names }` when slots of those names were taken or let go without a committed transition (read once a second); `event: ready` once listening; `event: resync` after the server lost its database connection and got it back (reload: a change made without being recorded in the history shows then). Comment heartbeats.',
  responses: {
    200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string() } } },
    503: ERRORS[503],
  },
});

/**
 * `GET /api/events`: Server-Sent Events of every committed transition. Every client is fed from the one
 * shared subscription; each has its own queue, so a slow client never holds up the others.
 */
export function eventsRoutes(deps: RouteDeps) {
  return new OpenAPIHono<AppEnv>().openapi(eventsRoute, (c) => {
    if (deps.events.size >= deps.limits.maxEventClients) {
      throw new ApiError(503, 'UNAVAILABLE', 'too many event streams are open; try again later');
    }
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const queue: Array<HubMessage | 'heartbeat'> = [];
      let wake: (() => void) | null = null;
      const push = (message: HubMessage | 'heartbeat') => {
        if (queue.length >= MAX_QUEUED) {
          queue.length = 0;
          queue.push({ kind: 'resync' });
        }
        queue.push(message);
        wake?.();
      };
      const detach = deps.events.attach(push);
      const heartbeat = setInterval(() => push('heartbeat'), deps.limits.heartbeatMs);
      stream.onAbort(() => wake?.());
      try {
        while (!stream.aborted && !stream.closed) {
          if (queue.length === 0) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = null;
            continue;
          }
          // Everything queued goes out in one write: one chunk per wake, not one per transition.
          let frames = '';
          let isClosing = false;
          for (const message of queue.splice(0)) {
            if (message !== 'heartbeat' && message.kind === 'closing') {
              isClosing = true;
              break;
            }
            frames += frameOf(message);
          }
          if (frames !== '') await stream.write(frames);
          if (isClosing) break;
        }
      } finally {
        clearInterval(heartbeat);
        detach();
      }
    });
  });
}
