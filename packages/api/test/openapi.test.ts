import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { createTestApp, getJson } from './helpers.ts';

const { app } = await createTestApp();

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * What the app does not document (openapi.ts): the dashboard's catch-all, which serves its static files and
 * client-side routes.
 */
const UNDOCUMENTED = ['GET /*', 'HEAD /*'];

/** `METHOD /path` of every route the app answers, with Hono's `:param` written as OpenAPI's `{param}`. */
function answeredRoutes(): string[] {
  const routes = app.routes
    // Middleware (`app.use`) is registered for ALL methods under a wildcard path; it answers nothing itself.
    .filter((route) => !(route.method === 'ALL' && route.path.endsWith('*')))
    .map((route) => `${route.method} ${route.path.replaceAll(/:([^/]+)/g, '{$1}')}`);
  return [...new Set(routes)].sort();
}

describe('GET /api/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document whose references all resolve', async () => {
    const doc = await getJson(app, '/api/openapi.json');
    const result = await new Validator().validate(doc);
    expect(result.errors, JSON.stringify(result.errors, null, 2)).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('documents every route the app answers, and nothing else, but the dashboard', async () => {
    const doc = await getJson<{ paths: Record<string, Record<string, unknown>> }>(app, '/api/openapi.json');
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    const answered = answeredRoutes();
    expect(answered).toEqual(expect.arrayContaining(UNDOCUMENTED));
    expect(documented.sort()).toEqual(answered.filter((route) => !UNDOCUMENTED.includes(route)));
  });

  it('describes the validation of a route: required parameters, limits and the refused body', async () => {
    const doc = await getJson<{
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; required: boolean }> }>>;
      components: { schemas: Record<string, { required?: string[]; additionalProperties?: unknown }> };
    }>(app, '/api/openapi.json');
    const gridParameters = doc.paths['/api/grid']?.get?.parameters ?? [];
    expect(gridParameters.filter((p) => p.required).map((p) => p.name)).toEqual(['from', 'to']);
    expect(doc.components.schemas.BackfillRequest).toMatchObject({
      required: ['name', 'from', 'to'],
      additionalProperties: false,
    });
    // The same definitions refuse what the document leaves out.
    const response = await app.request('/api/grid?from=2026-01-01T00:00:00Z');
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'BAD_INPUT' } });
  });
});
