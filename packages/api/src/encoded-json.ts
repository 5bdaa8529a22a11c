import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Context, TypedResponse } from 'hono';

const gzipAsync = promisify(gzip);

/** A computed response as the bytes every request that shares it is sent: the JSON, and gzipped once if asked. */
export interface EncodedJson {
  readonly json: Uint8Array<ArrayBuffer>;
  readonly gzip: Promise<Uint8Array<ArrayBuffer>>;
}

/** The bytes of a Buffer as the plain Uint8Array view that a response body takes (no copy). */
const bytesOf = (buffer: Buffer): Uint8Array<ArrayBuffer> =>
  new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);

/**
 * Encodes JSON text on first demand, once, as plain bytes or gzipped (most clients take gzip: their requests
 * never make the plain bytes, a copy of the text that would otherwise live as long as the result is reused).
 */
export function encodeJson(text: string): EncodedJson {
  let json: Uint8Array<ArrayBuffer> | null = null;
  let gzipped: Promise<Uint8Array<ArrayBuffer>> | null = null;
  return {
    get json() {
      json ??= bytesOf(Buffer.from(text));
      return json;
    },
    get gzip() {
      // Level 1: most of the size gain of repetitive JSON for a fraction of the time.
      gzipped ??= gzipAsync(text, { level: 1 }).then(bytesOf);
      return gzipped;
    },
  };
}

/**
 * Answers with shared bytes: every request that shares a computation gets the same bytes, encoded (and
 * compressed, for clients that take gzip) once. `T` is the wire type the bytes are the JSON of (the route's
 * response schema), which the route's typed handler checks its answer against.
 */
export async function sendEncoded<T>(
  c: Context,
  encoded: EncodedJson,
): Promise<Response & TypedResponse<T, 200, 'json'>> {
  const isGzip = /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
  const response = c.newResponse(isGzip ? await encoded.gzip : encoded.json, 200, {
    'Content-Type': 'application/json',
    ...(isGzip ? { 'Content-Encoding': 'gzip' } : {}),
    Vary: 'Accept-Encoding',
  });
  // The bytes were written as JSON of T (by JSON.stringify, or by hand for speed): no schema checks them.
  return response as Response & TypedResponse<T, 200, 'json'>;
}
