import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { json, type HttpResponse } from './types.js';
import { acceptsGzip } from './content-negotiation.js';

const gzipAsync = promisify(gzip);
const MIN_COMPRESSED_BYTES = 1024;

/** A JSON response, gzip-compressed when the client accepts it and the body is worth compressing. */
export async function negotiatedJson(acceptEncoding: string | undefined, status: number, data: unknown): Promise<HttpResponse> {
  const text = JSON.stringify(data);
  if (text.length < MIN_COMPRESSED_BYTES || !acceptsGzip(acceptEncoding)) return json(status, data, { vary: 'accept-encoding' });
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip', vary: 'accept-encoding' },
    body: await gzipAsync(text),
  };
}
