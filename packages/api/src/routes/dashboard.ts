import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from '../auth.ts';
import { ApiError } from '../http-error.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** The file under `root` that `path` names, or null when it escapes `root` or is not a regular file. */
async function findFile(root: string, path: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (decoded.includes('\u0000')) return null;
  const file = resolve(root, `.${normalize(`/${decoded}`)}`);
  if (file !== root && !file.startsWith(root + sep)) return null;
  try {
    return (await stat(file)).isFile() ? file : null;
  } catch {
    return null;
  }
}

/**
 * The built dashboard at `/`: its files, and `index.html` for every other GET outside `/api` (client-side
 * routes). Hashed assets are cached for good; `index.html` is revalidated so a new build shows at once.
 */
export function dashboardRoutes(dashboardDir: string | null) {
  const root = dashboardDir === null ? null : resolve(dashboardDir);
  return new Hono<AppEnv>().on(['GET', 'HEAD'], '*', async (c) => {
    const path = c.req.path;
    if (path.startsWith('/api/') || path === '/api' || path === '/metrics') {
      throw new ApiError(404, 'NOT_FOUND', `no route ${c.req.method} ${path.slice(0, 200)}`);
    }
    if (root === null) {
      throw new ApiError(
        404,
        'NOT_FOUND',
        'this server has no dashboard build; see /api/openapi.json for the API',
      );
    }
    let file = path === '/' ? null : await findFile(root, path);
    const isAsset = file !== null;
    if (file === null) {
      // A client-side route: anything that is not a missing file with an extension gets the app.
      if (extname(path) !== '' && !path.endsWith('.html')) {
        throw new ApiError(404, 'NOT_FOUND', `no file ${path.slice(0, 200)}`);
      }
      file = join(root, 'index.html');
    }
    let content: Buffer;
    try {
      content = await readFile(file);
    } catch {
      throw new ApiError(404, 'NOT_FOUND', 'the dashboard build has no index.html; build it first');
    }
    const isHashed = isAsset && path.startsWith('/assets/');
    c.header('Content-Type', CONTENT_TYPES[extname(file)] ?? 'application/octet-stream');
    c.header('Cache-Control', isHashed ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (c.req.method === 'HEAD') return c.body(null);
    return c.body(new Uint8Array(content));
  });
}
