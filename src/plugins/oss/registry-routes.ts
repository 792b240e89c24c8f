import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { inject, injectable } from 'inversify';
import { RegistryEntries, json, type RouteContribution, type RouteDefinition } from '../../core/index.js';

const gzipAsync = promisify(gzip);

/** Whether an `Accept-Encoding` header admits gzip (listed, or `*`, with a non-zero q). */
function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  const codings = new Map(header.split(',').map((part) => {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return [coding.trim(), q ? Number(q.slice(2)) : 1] as const;
  }));
  const q = codings.get('gzip') ?? codings.get('*') ?? 0;
  return q > 0;
}

/**
 * `GET /api/v1/meta/mcp-registry`: what the caller may use (tools and registry operations),
 * readable with any valid credential of the tenant.
 */
@injectable()
export class RegistryRoutes implements RouteContribution {
  constructor(@inject(RegistryEntries) private readonly registry: RegistryEntries) {}

  routes(): RouteDefinition[] {
    return [
      {
        method: 'GET',
        path: '/api/v1/meta/mcp-registry',
        handler: async (req) => {
          const principal = await req.authenticate();
          const entries = (await this.registry.list(principal)).filter(({ decision }) => decision.allow).map(({ entry }) => entry);
          const data = { data: { edition: 'community', tenant: principal.tenant, count: entries.length, entries } };
          if (!acceptsGzip(req.header('accept-encoding'))) return json(200, data, { vary: 'accept-encoding' });
          const body = await gzipAsync(JSON.stringify(data));
          return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip', vary: 'accept-encoding' }, body };
        },
      },
    ];
  }
}
