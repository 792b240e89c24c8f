import { randomUUID } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { TenantHostPattern } from '../http/tenant-host.js';
import { DEFAULT_WRITE_STALL_TIMEOUT_MS } from '../http/node-adapter.js';
import type { EngineConfig, EngineOptions } from './config.js';
import { checkCount, checkDurationMs } from './option-checks.js';

function normaliseBasePath(value: string | undefined, name: string): string {
  if (!value || value === '/') return '';
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(value)) throw new ConfigError(`${name} "${value}" must look like /segment[/segment…].`);
  return value;
}

/** A duration option in milliseconds, or its default. */
function duration(value: number | undefined, fallback: number, name: string): number {
  return value === undefined ? fallback : checkDurationMs(value, name);
}

/** A count option (bytes, items), or its default. */
function count(value: number | undefined, fallback: number, name: string): number {
  return value === undefined ? fallback : checkCount(value, name);
}

function sessionLimits(options: Exclude<EngineOptions['sessions'], boolean | undefined>): EngineConfig['sessions'] {
  const maxSessions = count(options.maxSessions, 10_000, 'sessions.maxSessions');
  return {
    idleTimeoutMs: duration(options.idleTimeoutMs, 30 * 60_000, 'sessions.idleTimeoutMs'),
    maxSessions,
    maxSessionsPerTenant: Math.min(maxSessions, count(options.maxSessionsPerTenant, 1_000, 'sessions.maxSessionsPerTenant')),
  };
}

export function resolveConfig(options: EngineOptions): EngineConfig {
  let publicUrl = 'http://localhost';
  if (options.publicUrl) {
    let url: URL;
    try {
      url = new URL(options.publicUrl);
    } catch {
      throw new ConfigError(`publicUrl "${options.publicUrl}" is not a URL.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('publicUrl must be http(s).');
    publicUrl = url.origin;
  }
  return {
    instanceId: randomUUID(),
    publicUrl,
    basePath: normaliseBasePath(options.basePath, 'basePath'),
    mcpPath: normaliseBasePath(options.mcpPath ?? '/api/mcp', 'mcpPath') || '/api/mcp',
    allowedOrigins: options.allowedOrigins,
    allowedHosts: options.allowedHosts?.map((host) => host.toLowerCase()),
    tenantHost: options.tenantHost === undefined ? undefined : new TenantHostPattern(options.tenantHost),
    maxBodyBytes: count(options.maxBodyBytes, 1024 * 1024, 'maxBodyBytes'),
    credentialCacheTtlMs: duration(options.credentialCacheTtlMs, 30_000, 'credentialCacheTtlMs'),
    pageSize: count(options.pageSize, 100, 'pageSize'),
    drainTimeoutMs: duration(options.drainTimeoutMs, 10_000, 'drainTimeoutMs'),
    writeStallTimeoutMs: duration(options.writeStallTimeoutMs, DEFAULT_WRITE_STALL_TIMEOUT_MS, 'writeStallTimeoutMs'),
    readTimeoutMs: duration(options.readTimeoutMs, 30_000, 'readTimeoutMs'),
    callTimeoutMs: duration(options.callTimeoutMs, 60_000, 'callTimeoutMs'),
    serverInfo: options.serverInfo ?? { name: 'gatehouse', version: '0.1.0' },
    instructions: options.instructions,
    sessions: options.sessions ? sessionLimits(options.sessions === true ? {} : options.sessions) : undefined,
  };
}

