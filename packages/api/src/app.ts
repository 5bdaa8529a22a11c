import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { type AppEnv, requireReader } from './auth.ts';
import { type AppDeps, DEFAULT_LIMITS, type RouteDeps } from './deps.ts';
import type { EncodedJson } from './encoded-json.ts';
import { EventHub } from './event-hub.ts';
import { ApiError, errorHandler, rejectInvalid } from './http-error.ts';
import { quietLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { observeRequests } from './observe-requests.ts';
import { openApiDocument, openApiRoute } from './openapi.ts';
import { actionRoutes } from './routes/actions.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { eventsRoutes } from './routes/events.ts';
import { gridRoutes } from './routes/grid.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { namesRoutes } from './routes/names.ts';
import { tasksRoutes } from './routes/tasks.ts';
import { whoamiRoutes } from './routes/whoami.ts';
import { VersionedSingleFlight } from './single-flight.ts';

/** How long a waiting grid or names computation gathers requests after the running one settled. */
const GATHER_MS = 10;

/**
 * What the dashboard's CSP allows: its own scripts only; inline styles because React sets some through the
 * `style` attribute; connections to itself only (the API and `/api/events`).
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/**
 * Closes the connection after an answer given before the request's body was read to its end (a 413, or a
 * refusal that never needed the body): the rest of the body may still be arriving, and on a kept-alive
 * connection the client would send its next request behind bytes the server no longer reads, so that
 * request would be lost. `Connection: close` tells the client to send it on a new connection.
 */
function closeWhenBodyUnread(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const length = c.req.header('content-length');
    const hasBody =
      length === undefined ? c.req.header('transfer-encoding') !== undefined : Number(length) > 0;
    if (c.res.status === 413 || (hasBody && !c.req.raw.bodyUsed)) c.res.headers.set('Connection', 'close');
  };
}

/**
 * Builds the API sidecar's Hono app around an injected TaskManager. It reads no environment and opens no
 * pool; the event subscription is opened while `/api/events` clients are connected.
 */
export function createApp(deps: AppDeps) {
  const logger = deps.logger ?? quietLogger;
  const routeDeps: RouteDeps = {
    tm: deps.tm,
    auth: deps.auth,
    limits: { ...DEFAULT_LIMITS, ...deps.limits },
    logger,
    events: deps.events ?? new EventHub(deps.tm, logger),
    now: deps.now ?? (() => new Date()),
  };
  const { limits } = routeDeps;
  // Both keyed by the event stream's change count: a result never outlives a change clients were told of.
  // A waiting computation starts a few milliseconds after the running one, time enough for the clients it
  // answered to ask again and share the next one (see VersionedSingleFlight).
  const gridFlights = new VersionedSingleFlight<EncodedJson>({
    version: () => routeDeps.events.changes,
    reuseMs: () => limits.gridCacheMs,
    gatherMs: GATHER_MS,
  });
  const namesFlights = new VersionedSingleFlight<EncodedJson>({
    version: () => routeDeps.events.changes,
    reuseMs: () => limits.namesCacheMs,
    gatherMs: GATHER_MS,
  });
  const metrics = createMetrics(routeDeps, { grid: gridFlights.stats, names: namesFlights.stats });

  const app = new OpenAPIHono<AppEnv>({ defaultHook: rejectInvalid });
  app.onError(errorHandler(logger));
  app.notFound((c) =>
    c.json(
      { error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path.slice(0, 200)}` } },
      404,
    ),
  );
  app.use('*', requestId());
  app.use('*', observeRequests(logger, metrics.requests));
  app.use('*', closeWhenBodyUnread());
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: CONTENT_SECURITY_POLICY,
      crossOriginEmbedderPolicy: false,
      strictTransportSecurity: false,
      referrerPolicy: 'no-referrer',
    }),
  );
  const corsOrigins = deps.corsOrigins ?? [];
  if (corsOrigins.length > 0) {
    app.use(
      '/api/*',
      cors({
        origin: [...corsOrigins],
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type'],
        maxAge: 600,
      }),
    );
  }
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: limits.maxBodyBytes,
      onError: () => {
        throw new ApiError(413, 'TOO_LARGE', `the request body is larger than ${limits.maxBodyBytes} bytes`);
      },
    }),
  );
  app.use('*', requireReader(deps.auth));

  const routes = app
    .route('/api/health', healthRoutes(routeDeps))
    .route('/api/whoami', whoamiRoutes(routeDeps))
    .route('/api/names', namesRoutes(routeDeps, namesFlights))
    .route('/api/tasks', tasksRoutes(routeDeps))
    .route('/api/grid', gridRoutes(routeDeps, gridFlights))
    .route('/api/events', eventsRoutes(routeDeps))
    .route('/api', actionRoutes(routeDeps))
    .openapi(openApiRoute, (c) => c.json(document, 200))
    .route('/metrics', metricsRoutes(metrics.registry))
    .route('/', dashboardRoutes(deps.dashboardDir ?? null));
  // Generated once the routes are in place, from their declarations; served as it is.
  const document = openApiDocument(routes);
  return routes;
}

/** The app's type, for Hono's typed client. */
export type AppType = ReturnType<typeof createApp>;
