import { HttpError } from '../errors.js';
import type { HttpRequest, HttpResponse } from './types.js';

async function readBody(request: Request, limit: number): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    throw new HttpError(413, 'payload_too_large', `The request body exceeds ${limit} bytes.`);
  }
  if (!request.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new HttpError(413, 'payload_too_large', `The request body exceeds ${limit} bytes.`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** The request's header lookup, closed over its headers alone (see the Node adapter's). */
function headerLookup(headers: Headers): (name: string) => string | undefined {
  return (name) => headers.get(name) ?? undefined;
}

export function fromWebRequest(request: Request, limit: number, clientAddress?: string): HttpRequest {
  const url = new URL(request.url);
  let body: Promise<Buffer> | undefined;
  return {
    method: request.method,
    path: url.pathname,
    query: url.searchParams,
    header: headerLookup(request.headers),
    body: () => (body ??= readBody(request, limit)),
    clientAddress,
    signal: request.signal,
  };
}

export function toWebResponse(response: HttpResponse): Response {
  const { body } = response;
  let init: ConstructorParameters<typeof Response>[0] = null;
  if (typeof body === 'string' || body instanceof Uint8Array) init = body;
  else if (body !== undefined) {
    const iterator = body[Symbol.asyncIterator]();
    const encoder = new TextEncoder();
    init = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await iterator.next();
        if (done) controller.close();
        else controller.enqueue(typeof value === 'string' ? encoder.encode(value) : value);
      },
      async cancel() {
        await iterator.return?.();
      },
    });
  }
  return new Response(init, { status: response.status, headers: response.headers as Record<string, string> | undefined });
}
