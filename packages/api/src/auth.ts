import { createHash, timingSafeEqual } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { AuthConfig } from './deps.ts';
import { ApiError } from './http-error.ts';

/** Hono environment of the app: what middleware hands to routes. */
export interface AppEnv {
  Variables: {
    /** Who is writing: `<tokenName>@<client address>`; set by `requireWriter`. */
    actor: string;
  };
}

/**
 * Compares two secrets in constant time. Hashing first makes both sides the same length, so neither the
 * comparison nor an early length check reveals anything about the secret.
 */
export function isSameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The client's address as the socket reports it; `local` for in-process requests (tests). */
export function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'local';
  } catch {
    return 'local';
  }
}

function bearerOf(c: Context): string | null {
  const header = c.req.header('authorization');
  if (header === undefined) return null;
  const match = /^Bearer[ ]+(\S{1,4096})\s*$/i.exec(header);
  return match?.[1] ?? null;
}

function hasBearerHeader(c: Context): boolean {
  return /^Bearer(\s|$)/i.test(c.req.header('authorization') ?? '');
}

function basicOf(c: Context): { user: string; password: string } | null {
  const match = /^Basic[ ]+([A-Za-z0-9+/=]{1,4096})\s*$/i.exec(c.req.header('authorization') ?? '');
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The actor recorded for a write with the token. */
export function actorOf(auth: AuthConfig, c: Context): string {
  return `${auth.tokenName ?? 'api'}@${clientAddress(c)}`;
}

/** Whether the request carries the write token. Throws 401 for a bearer token that is not it. */
export function checkBearer(auth: AuthConfig, c: Context): boolean {
  if (!hasBearerHeader(c)) return false;
  const given = bearerOf(c);
  if (auth.token === null) return false;
  if (given === null || !isSameSecret(given, auth.token)) {
    throw new ApiError(401, 'UNAUTHORIZED', 'the bearer token is not valid');
  }
  return true;
}

/**
 * Guards every write: 403 READ_ONLY when the server has no token, 401 without the right
 * `Authorization: Bearer <token>`. Sets the `actor` variable.
 */
export function requireWriter(auth: AuthConfig): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (auth.token === null) {
      throw new ApiError(
        403,
        'READ_ONLY',
        'this server is read-only: it was started without an API token (DTM_API_TOKEN), so it accepts no changes',
      );
    }
    const given = bearerOf(c);
    if (given === null) {
      c.header('WWW-Authenticate', 'Bearer realm="dtm"');
      throw new ApiError(401, 'UNAUTHORIZED', 'this route needs Authorization: Bearer <token>');
    }
    if (!isSameSecret(given, auth.token)) {
      c.header('WWW-Authenticate', 'Bearer realm="dtm", error="invalid_token"');
      throw new ApiError(401, 'UNAUTHORIZED', 'the bearer token is not valid');
    }
    c.set('actor', actorOf(auth, c));
    await next();
  };
}

/**
 * Basic auth on reads when configured (the browser then asks for it). The right bearer token reads too.
 * Writes are left to `requireWriter`; `/api/health` stays open for liveness probes.
 */
export function requireReader(auth: AuthConfig): MiddlewareHandler<AppEnv> {
  const readAuth = auth.readAuth;
  return async (c, next) => {
    if (!readAuth || c.req.method === 'POST' || c.req.path === '/api/health') return next();
    const basic = basicOf(c);
    // Both halves are always compared, so a right user name takes as long as a wrong one.
    const isUser = basic !== null && isSameSecret(basic.user, readAuth.user);
    const isPassword = basic !== null && isSameSecret(basic.password, readAuth.password);
    const bearer = bearerOf(c);
    const isToken = bearer !== null && auth.token !== null && isSameSecret(bearer, auth.token);
    if ((isUser && isPassword) || isToken) return next();
    c.header('WWW-Authenticate', 'Basic realm="dtm", charset="UTF-8"');
    throw new ApiError(
      401,
      'UNAUTHORIZED',
      'reading needs the user name and password configured for this server',
    );
  };
}
