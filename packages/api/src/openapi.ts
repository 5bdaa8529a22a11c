import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import type { AppEnv } from './auth.ts';
import { errorResponse } from './schemas.ts';

// Every route of the API is declared with `createRoute` (routes/*.ts) and registered with `openapi()`: the
// declaration's schemas validate the request, and the document is generated from the declarations. Only
// the dashboard's catch-all (`GET|HEAD /*`, static files and client-side routes) is not part of the API
// and stays out of the document.

/** A response whose body is JSON of `schema`. */
export function jsonResponse<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { 'application/json': { schema } } };
}

/** The error answers routes declare, `{ error: { code, message } }`, by status. */
export const ERRORS = {
  400: jsonResponse('BAD_INPUT: a parameter or the body is not valid', errorResponse),
  401: jsonResponse('UNAUTHORIZED: the credentials are missing or wrong', errorResponse),
  403: jsonResponse('READ_ONLY: the server was started without an API token', errorResponse),
  404: jsonResponse('NOT_FOUND: no such task name or slot', errorResponse),
  413: jsonResponse('TOO_LARGE: the body is larger than the server takes', errorResponse),
  503: jsonResponse('UNAVAILABLE: the server cannot take the request now; try again later', errorResponse),
};

/** The security of a write: the API token as a bearer token. */
export const WRITE_SECURITY = [{ bearer: [] }];

/** `GET /api/openapi.json`. */
export const openApiRoute = createRoute({
  method: 'get',
  path: '/api/openapi.json',
  summary: 'This document',
  responses: {
    200: jsonResponse('OpenAPI 3.1', z.record(z.string(), z.unknown())),
  },
});

/** An OpenAPI 3.1 document. */
export type OpenApiDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>;

/** The OpenAPI 3.1 document of every route that `app` and the apps mounted on it registered with `openapi()`. */
export function openApiDocument(app: OpenAPIHono<AppEnv>): OpenApiDocument {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'The API token (DTM_API_TOKEN)',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'basic', {
    type: 'http',
    scheme: 'basic',
    description: 'Optional basic auth on reads',
  });
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'DTM API',
      version: '0.1.0',
      description:
        'The DTM sidecar: task slots, guarded re-queue and skip, backfill, live events and metrics. Times are ISO-8601 UTC; ranges are half-open [from, to). Every error answers `{ error: { code, message } }`.',
    },
    servers: [{ url: '/' }],
  });
}
