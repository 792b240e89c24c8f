import { principalOf } from '@gatehouse-mcp/engine/oss';

/** Ids the echo API answers with an error. */
export const MISSING_ID = '00000000-0000-4000-8000-000000000404';
export const BROKEN_ID = '00000000-0000-4000-8000-000000000500';

export interface EchoApi {
  readonly handler: (request: Request) => Promise<Response>;
  /** Every request the handler received. */
  readonly received: Request[];
}

/**
 * A stand-in for a host's REST API behind the generated document: answers every request with
 * what it received (method, path, query, headers, body, the principal attached by the engine),
 * except for a few ids and reports that fail or answer too much.
 */
export function echoApi(): EchoApi {
  const received: Request[] = [];
  return {
    received,
    async handler(request) {
      received.push(request);
      const url = new URL(request.url);
      if (url.pathname.endsWith(`/${MISSING_ID}`)) {
        return Response.json({ error: { code: 'not_found', message: `No ticket ${MISSING_ID}.` } }, { status: 404, statusText: 'Not Found' });
      }
      if (url.pathname.endsWith(`/${BROKEN_ID}`)) {
        return new Response('upstream database unavailable', { status: 500, statusText: 'Internal Server Error', headers: { 'content-type': 'text/plain' } });
      }
      if (url.pathname.endsWith('/reports/revenue')) {
        const rows = Array.from({ length: 20_000 }, (_, i) => ({ month: `2025-${String((i % 12) + 1).padStart(2, '0')}`, client: `client-${i}`, revenue: '1234.56' }));
        return Response.json({ name: 'revenue', rows });
      }
      const text = await request.text();
      const headers: Record<string, string> = {};
      request.headers.forEach((value, name) => (headers[name] = value));
      const query: Record<string, string[]> = {};
      url.searchParams.forEach((value, name) => (query[name] ??= []).push(value));
      const principal = principalOf(request);
      return Response.json(
        {
          method: request.method,
          url: request.url,
          path: url.pathname,
          query,
          headers,
          body: text ? JSON.parse(text) : null,
          principal: principal ? { tenant: principal.tenant, kind: principal.kind, id: principal.id } : null,
        },
        { status: request.method === 'POST' ? 201 : 200, headers: { etag: '"v1"' } },
      );
    },
  };
}
