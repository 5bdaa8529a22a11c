// What a listening server does with connections, HEAD and cut-off uploads: behaviour of the server as Node
// runs it (`startServer`), which `app.request` cannot show.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/start-server.ts';
import { databaseUrl, dropSchema, recordingLogger, TOKEN, waitFor } from './helpers.ts';

const dist = await mkdtemp(join(tmpdir(), 'dtm-dashboard-'));
await writeFile(join(dist, 'index.html'), '<!doctype html><div id="root"></div>');
const schema = `t_connection_${process.pid}`;
const recorded = recordingLogger();
const server = await startServer({
  databaseUrl,
  schema,
  port: 0,
  auth: { token: TOKEN, tokenName: 'tests' },
  dashboardDir: dist,
  logger: recorded.logger,
});
const { hostname, port } = new URL(server.url);
afterAll(async () => {
  await server.close();
  await dropSchema(schema);
  await rm(dist, { recursive: true, force: true });
});

const MAX_BODY = 1024 * 1024;

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** One connection driven byte by byte: what a client that does not wait for its own body to be read sees. */
class RawConnection {
  readonly socket: Socket;
  #received = Buffer.alloc(0);
  isEnded = false;
  #changed: (() => void) | null = null;

  constructor() {
    this.socket = connect(Number(port), hostname);
    this.socket.on('data', (chunk) => {
      this.#received = Buffer.concat([this.#received, chunk]);
      this.#changed?.();
    });
    // The server's FIN (or a reset): either way the connection is over for the client.
    const end = () => {
      this.isEnded = true;
      this.#changed?.();
    };
    this.socket.on('end', end);
    this.socket.on('close', end);
    this.socket.on('error', () => {});
  }

  /** Waits, with a deadline, until `check` holds for what has arrived. */
  async #waitUntil<T>(what: string, check: () => T | null, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== null) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; got ${this.#received.toString()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#changed = null;
    }
  }

  /** The first whole response (headers and a Content-Length body). */
  response(): Promise<RawResponse> {
    return this.#waitUntil('response', () => {
      const text = this.#received.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (headEnd < 0) return null;
      const [statusLine = '', ...lines] = text.slice(0, headEnd).split('\r\n');
      const headers = new Map(
        lines.map((line) => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as const;
        }),
      );
      const length = Number(headers.get('content-length') ?? '0');
      if (this.#received.length < headEnd + 4 + length) return null;
      const body = this.#received.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
      return { status: Number(statusLine.split(' ')[1]), headers, body };
    });
  }

  /** Resolves when the server has closed the connection. */
  closedByServer(): Promise<true> {
    return this.#waitUntil('close', () => (this.isEnded ? true : null));
  }
}

/** A request through `agent`; resolves with the status and headers once the body has arrived. */
function send(
  agent: Agent,
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${server.url}${path}`,
      {
        method,
        agent,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(body.length) },
      },
      (response) => {
        response.resume();
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, connection: response.headers.connection }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

const WRITE_HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

describe('a request answered before its body was read', () => {
  it('413: the answer says Connection: close and the server closes the connection; a new one works', async () => {
    const connection = new RawConnection();
    try {
      connection.socket.write(
        [
          'POST /api/requeue HTTP/1.1',
          `Host: ${hostname}`,
          `Authorization: Bearer ${TOKEN}`,
          'Content-Type: application/json',
          `Content-Length: ${2 * MAX_BODY}`,
          '',
          '',
        ].join('\r\n'),
      );
      // Only the start of the body: the rest is "still arriving" when the server answers.
      connection.socket.write('{"name":"x","pad":"');
      const response = await connection.response();
      expect(response.status).toBe(413);
      expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'TOO_LARGE' } });
      expect(response.headers.get('connection')).toBe('close');
      expect(await connection.closedByServer()).toBe(true);
    } finally {
      connection.socket.destroy();
    }
    const agent = new Agent({ keepAlive: true });
    try {
      expect((await send(agent, 'GET', '/api/health')).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it.each([
    ['413 (too large)', 2 * MAX_BODY, WRITE_HEADERS, 413],
    ['401 (no token)', 900_000, { 'content-type': 'application/json' }, 401],
    ['400 (not JSON)', 900_000, { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' }, 400],
  ] as const)('%s: the next request of a keep-alive client is answered', async (_, size, headers, status) => {
    // One socket at most: the second request goes on the first one's connection if it is kept.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await send(agent, 'POST', '/api/requeue', Buffer.alloc(size, 'a'), headers);
      expect(first).toEqual({ status, connection: 'close' });
      expect((await send(agent, 'GET', '/api/health')).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('a body the route reads whole keeps the connection alive', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = Buffer.from(JSON.stringify({ name: 'none', slots: [], reason: 'x' }));
      expect(await send(agent, 'POST', '/api/requeue', body, WRITE_HEADERS)).toEqual({
        status: 400,
        connection: 'keep-alive',
      });
      expect(await send(agent, 'GET', '/api/health')).toEqual({ status: 200, connection: 'keep-alive' });
    } finally {
      agent.destroy();
    }
  });
});

describe('HEAD', () => {
  const SECURITY_HEADERS = [
    'content-security-policy',
    'x-content-type-options',
    'x-frame-options',
    'referrer-policy',
    'cross-origin-opener-policy',
    'cross-origin-resource-policy',
  ];

  it.each([
    '/',
    '/failures/some-name',
    '/api/health',
    '/api/names',
    '/api/openapi.json',
    '/metrics',
    '/api/nothing-here',
  ])('%s carries the same security headers as GET', async (path) => {
    const get = await fetch(`${server.url}${path}`);
    await get.arrayBuffer();
    const head = await fetch(`${server.url}${path}`, { method: 'HEAD' });
    expect(head.status).toBe(get.status);
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
    for (const header of SECURITY_HEADERS) {
      expect(get.headers.get(header), `GET ${header}`).not.toBeNull();
      expect(head.headers.get(header), `HEAD ${header}`).toBe(get.headers.get(header));
    }
  });
});

describe('an upload the client abandons mid-body', () => {
  it.each([
    ['/api/requeue', { 'content-length': '10000' }],
    ['/api/skip', { 'transfer-encoding': 'chunked' }],
  ])('%s (%o) ends as a 4xx, with nothing logged as an error', async (path, framing) => {
    const before = await postCounts();
    const connection = new RawConnection();
    const head = Object.entries({
      host: hostname,
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      ...framing,
    }).map(([key, value]) => `${key}: ${value}`);
    const part = '{"name":"abandoned","slots":["2026-01-01T00:00:00Z"],"reas';
    const chunk = 'transfer-encoding' in framing ? `${part.length.toString(16)}\r\n${part}\r\n` : part;
    // Written out to the kernel, so the server reads the headers and the start of the body before the end.
    await new Promise<void>((resolve, reject) =>
      connection.socket.write([`POST ${path} HTTP/1.1`, ...head, '', chunk].join('\r\n'), (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    connection.socket.destroy();
    const answered = await waitFor('the request to be answered', async () => {
      const after = await postCounts();
      const grown = [...after].filter(([status, count]) => count > (before.get(status) ?? 0));
      return grown.length > 0 ? grown.map(([status]) => status) : null;
    });
    expect(answered).toHaveLength(1);
    expect(answered[0]).toBeGreaterThanOrEqual(400);
    expect(answered[0]).toBeLessThan(500);
    expect(recorded.entries.filter((entry) => entry.startsWith('error'))).toEqual([]);
  });
});

/**
 * How many POST requests the server answered, by status, whatever their route (one refused in a middleware
 * is counted under the middleware's pattern), from its /metrics.
 */
async function postCounts(): Promise<Map<number, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const counts = new Map<number, number>();
  for (const match of text.matchAll(
    /^dtm_http_requests_total\{method="POST",[^}]*status="(\d+)"\} (\d+)$/gm,
  )) {
    const status = Number(match[1]);
    counts.set(status, (counts.get(status) ?? 0) + Number(match[2]));
  }
  return counts;
}
