import type { TaskEvent } from '@dtm/core';
import { Hono } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import type { AppEnv } from '../auth.ts';
import type { RouteDeps } from '../deps.ts';
import type { HubMessage } from '../event-hub.ts';
import { ApiError } from '../http-error.ts';

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

async function send(stream: SSEStreamingApi, message: HubMessage | 'heartbeat'): Promise<void> {
  if (message === 'heartbeat') {
    await stream.write(': heartbeat\n\n');
  } else if (message.kind === 'ready') {
    await stream.writeSSE({ event: 'ready', data: '{}', retry: RETRY_MS });
  } else if (message.kind === 'closing') {
    return;
  } else if (message.kind === 'holders') {
    await stream.writeSSE({ event: 'holders', data: JSON.stringify({ names: message.names }) });
  } else if (message.kind === 'resync') {
    await stream.writeSSE({ event: 'resync', data: JSON.stringify({ reason: 'reconnected' }) });
  } else {
    await stream.writeSSE(toEventData(message.event));
  }
}

/**
 * `GET /api/events`: Server-Sent Events of every committed transition. Every client is fed from the one
 * shared subscription; each has its own queue, so a slow client never holds up the others.
 */
export function eventsRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().get('/', (c) => {
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
          const message = queue.shift();
          if (message === undefined) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = null;
            continue;
          }
          if (message !== 'heartbeat' && message.kind === 'closing') break;
          await send(stream, message);
        }
      } finally {
        clearInterval(heartbeat);
        detach();
      }
    });
  });
}
