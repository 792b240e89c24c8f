import type { Principal } from '../ports/principal.js';
import type { HttpRequest, HttpResponse } from './types.js';

/** The request a route handler receives. */
export interface RouteRequest extends HttpRequest {
  /** Values of `:name` segments in the route path. */
  readonly params: Readonly<Record<string, string>>;
  readonly requestId: string;
  /** The tenant named by the URL (`/t/:tenant/...`), if any. */
  readonly tenantHint: string | undefined;
  /**
   * Authenticate the request with the engine's authenticator. Throws an `HttpError` 401 (with
   * `WWW-Authenticate`) when it fails, so a route can simply `await req.authenticate()`.
   */
  authenticate(): Promise<Principal>;
  /** The request body parsed as JSON; a malformed body throws an `HttpError` 400. */
  json(): Promise<unknown>;
}

export type RouteMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * An HTTP route contributed by a plugin, mounted under the engine's base path. Paths may contain
 * `:name` segments, and a route declared under `/api/v1/...` is also reachable per tenant under
 * `/t/:tenant/api/v1/...`. Handlers return JSON (see `json()`/`jsonError()`) or throw `HttpError`.
 */
export interface RouteDefinition {
  readonly method: RouteMethod;
  readonly path: string;
  handler(req: RouteRequest): Promise<HttpResponse> | HttpResponse;
}

/** A DI-bound source of routes, for plugins whose routes need injected services. */
export interface RouteContribution {
  routes(): readonly RouteDefinition[];
}

export const RouteContribution = Symbol.for('gatehouse.RouteContribution');
