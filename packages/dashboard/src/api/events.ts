import type { TaskState } from './types.ts';

/** A committed transition of one slot, as streamed by `GET /api/events`. */
export interface TransitionEvent {
  name: string;
  slot: Date;
  /** Null when the slot was created. */
  from: TaskState | null;
  to: TaskState;
  actor: string | null;
  at: Date;
}

/** A statement that changed many slots of a name at once. */
export interface BulkEvent {
  name: string;
  count: number;
}

/** The event stream's URL. */
export const EVENTS_URL = '/api/events';

interface WireTransition {
  name: string;
  slot: string;
  from: TaskState | null;
  to: TaskState;
  actor: string | null;
  at: string;
}

/** Parses a `transition` event's data; null when it is not what the API sends. */
export function parseTransition(data: string): TransitionEvent | null {
  try {
    const wire = JSON.parse(data) as WireTransition;
    if (typeof wire.name !== 'string' || typeof wire.slot !== 'string') return null;
    return { ...wire, slot: new Date(wire.slot), at: new Date(wire.at) };
  } catch {
    return null;
  }
}

/** Parses a `bulk` event's data; null when it is not what the API sends. */
export function parseBulk(data: string): BulkEvent | null {
  try {
    const wire = JSON.parse(data) as BulkEvent;
    return typeof wire.name === 'string' ? wire : null;
  } catch {
    return null;
  }
}

/** Parses a `holders` event's data (the names whose live holders changed); null when malformed. */
export function parseHolders(data: string): string[] | null {
  try {
    const wire = JSON.parse(data) as { names?: unknown };
    return Array.isArray(wire.names) && wire.names.every((name) => typeof name === 'string')
      ? wire.names
      : null;
  } catch {
    return null;
  }
}
