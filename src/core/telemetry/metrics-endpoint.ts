import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';
import { jsonError, type HttpResponse } from '../http/types.js';
import { clientErrorHandler } from '../http/client-error.js';
import type { Logger } from '../log/logger.js';
import type { PrometheusRegistry } from './prometheus-registry.js';

/** Options of the built-in Prometheus endpoint (`EngineOptions.metrics`). */
export interface MetricsOptions {
  /**
   * Serve `GET {basePath}/metrics` on the engine's own handler to requests that send
   * `Authorization: Bearer <token>` (at least 16 characters).
   */
  readonly token?: string;
  /**
   * Or serve `GET /metrics` without a token on a listener of its own, on this port (`0` picks a
   * free one; `engine.metricsUrl()` tells which). Bind it where only the scraper can reach it.
   */
  readonly port?: number;
  /** The host that listener binds. Default `127.0.0.1`. */
  readonly host?: string;
  /** How many tenants get their own label on per-tenant series; the rest are `_other`. Default 20. */
  readonly tenantLabels?: number;
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export function checkMetricsOptions(options: MetricsOptions | undefined): void {
  if (!options) return;
  if (options.token === undefined && options.port === undefined) {
    throw new ConfigError('metrics needs a "token" (served on the engine at /metrics) or a "port" (served on a listener of its own).');
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 16)) {
    throw new ConfigError('metrics.token must be a string of at least 16 characters.');
  }
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)) {
    throw new ConfigError('metrics.port must be a port number (0 picks a free one).');
  }
  if (options.tenantLabels !== undefined && (!Number.isInteger(options.tenantLabels) || options.tenantLabels < 0)) {
    throw new ConfigError('metrics.tenantLabels must be a whole number ≥ 0.');
  }
}

/** The built-in `/metrics` endpoint: on the engine behind a token, and/or on a port of its own. */
export class MetricsEndpoint {
  private readonly token: Buffer | undefined;
  private server: http.Server | undefined;
  private url: string | undefined;

  constructor(
    private readonly registry: PrometheusRegistry,
    private readonly options: MetricsOptions,
    private readonly logger?: Logger,
  ) {
    this.token = options.token === undefined ? undefined : digest(options.token);
  }

  /** Whether the engine's own handler serves `/metrics`. */
  get onEngine(): boolean {
    return this.token !== undefined;
  }

  /** `GET /metrics` on the engine's handler. */
  async serve(authorization: string | undefined): Promise<HttpResponse> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!this.token || !match || !timingSafeEqual(digest(match[1]!), this.token)) {
      return jsonError(401, 'unauthorized', 'The metrics endpoint needs its own bearer token.', { headers: { 'www-authenticate': 'Bearer realm="gatehouse-metrics"' } });
    }
    return this.exposition();
  }

  private async exposition(): Promise<HttpResponse> {
    return { status: 200, headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' }, body: await this.registry.render() };
  }

  /** Start the listener of its own, when a port is configured. */
  async start(): Promise<void> {
    if (this.options.port === undefined) return;
    const host = this.options.host ?? '127.0.0.1';
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      const answer: Promise<HttpResponse> =
        path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD') ? this.exposition() : Promise.resolve(jsonError(404, 'not_found', 'Only GET /metrics is served here.'));
      answer.then(
        (response) => {
          res.writeHead(response.status, response.headers);
          res.end(req.method === 'HEAD' ? undefined : (response.body as string));
        },
        () => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'internal_error', message: 'Metrics could not be collected.' } }));
        },
      );
    });
    server.on('clientError', clientErrorHandler(this.logger));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new ConfigError(`metrics: cannot listen on ${host}:${this.options.port}: ${error.message}`)));
      server.listen(this.options.port, host, () => resolve());
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
  }

  /** The URL of the listener of its own, when there is one. */
  get listenerUrl(): string | undefined {
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
