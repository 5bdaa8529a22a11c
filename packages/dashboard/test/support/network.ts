import { vi } from 'vitest';

/** A request as the stub saw it. */
export interface SeenRequest {
  method: string;
  url: URL;
  authorization: string | null;
  body: Record<string, unknown> | null;
}

/** Answers a request, or returns undefined to let the next handler try. */
export type Handler = (request: SeenRequest) => Response | undefined | Promise<Response | undefined>;

/** A JSON response. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** The API's error body. */
export function apiError(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

/**
 * Replaces `fetch` (the network edge) with handlers tried in order; unmatched requests answer 404 in the
 * API's error format. Returns every request seen.
 */
export function stubFetch(...handlers: Handler[]): SeenRequest[] {
  const seen: SeenRequest[] = [];
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://localhost');
    const headers = new Headers(init?.headers);
    const raw = typeof init?.body === 'string' ? init.body : null;
    const request: SeenRequest = {
      method: init?.method ?? 'GET',
      url,
      authorization: headers.get('authorization'),
      body: raw ? (JSON.parse(raw) as Record<string, unknown>) : null,
    };
    seen.push(request);
    for (const handler of handlers) {
      const response = await handler(request);
      if (response) return response;
    }
    return apiError(404, 'NOT_FOUND', `no stub for ${request.method} ${url.pathname}`);
  });
  return seen;
}

/** Matches `METHOD /path` (path without query). */
export function route(
  method: string,
  path: string | RegExp,
  answer: (request: SeenRequest) => Response,
): Handler {
  return (request) => {
    if (request.method !== method) return undefined;
    const matches =
      typeof path === 'string' ? request.url.pathname === path : path.test(request.url.pathname);
    return matches ? answer(request) : undefined;
  };
}

type Listener = (event: MessageEvent<string>) => void;

/** A minimal EventSource: tests push events with {@link FakeEventSource.emit}. */
export class FakeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static instances: FakeEventSource[] = [];
  readonly url: string;
  readyState = FakeEventSource.CONNECTING;
  private listeners = new Map<string, Listener[]>();

  constructor(url: string) {
    this.url = url;
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, listener: Listener) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
  /** Delivers an event to the page. */
  emit(type: string, data: unknown = {}) {
    if (type === 'open' || type === 'ready') this.readyState = FakeEventSource.OPEN;
    for (const listener of this.listeners.get(type) ?? []) {
      listener(new MessageEvent(type, { data: JSON.stringify(data) }));
    }
  }
  /** The most recent stream opened. */
  static latest(): FakeEventSource {
    const last = FakeEventSource.instances[FakeEventSource.instances.length - 1];
    if (!last) throw new Error('no EventSource opened');
    return last;
  }
}

/** Installs {@link FakeEventSource} as the global EventSource. */
export function stubEventSource(): void {
  FakeEventSource.instances = [];
  vi.stubGlobal('EventSource', FakeEventSource);
}
