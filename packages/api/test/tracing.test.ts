// With @opentelemetry/api installed and an SDK registered, every request is a server span.
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { describe, expect, it } from 'vitest';
import { createTestApp } from './helpers.ts';

const exporter = new InMemorySpanExporter();
new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();

const { app } = await createTestApp();

describe('request spans', () => {
  it('makes each request a server span named by method and route, child of the caller’s traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const response = await app.request('/api/tasks/no-such-name/2026-01-01T00:00:00Z', {
      headers: { traceparent: `00-${traceId}-${parentId}-01` },
    });
    expect(response.status).toBe(404);
    await app.request('/api/health');
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).toEqual(['GET /api/tasks/:name/:slot', 'GET /api/health']);
    const [child, root] = spans;
    expect(child?.kind).toBe(1); // SERVER
    expect(child?.spanContext().traceId).toBe(traceId);
    expect(child?.parentSpanContext?.spanId).toBe(parentId);
    expect(child?.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/api/tasks/:name/:slot',
      'http.response.status_code': 404,
      'url.path': '/api/tasks/no-such-name/2026-01-01T00:00:00Z',
    });
    expect(child?.status.code).toBe(0); // a 4xx is the client's error: the span's status stays unset
    expect(root?.parentSpanContext).toBeUndefined();
    expect(root?.spanContext().traceId).not.toBe(traceId);
  });

  it('marks a request answered 5xx as an error', async () => {
    exporter.reset();
    const { app: broken, tm } = await createTestApp();
    await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
    expect((await broken.request('/api/names')).status).toBe(500);
    const [span] = exporter.getFinishedSpans();
    expect(span).toMatchObject({ name: 'GET /api/names', status: { code: 2 } });
  });
});
