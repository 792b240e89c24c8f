import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { json, type HttpResponse } from './types.js';

const gzipAsync = promisify(gzip);
const MIN_COMPRESSED_BYTES = 1024;

/** Whether an `Accept-Encoding` header admits gzip (listed, or `*`, with a non-zero q). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  const codings = new Map(
    header.split(',').map((part) => {
      const [coding = '', ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return [coding.trim(), q ? Number(q.slice(2)) : 1] as const;
    }),
  );
  return (codings.get('gzip') ?? codings.get('*') ?? 0) > 0;
}

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
