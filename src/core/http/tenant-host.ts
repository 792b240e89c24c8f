import { ConfigError } from '../errors.js';
import { TENANT_ID } from '../db/tenant-db.js';

const PLACEHOLDER = '{tenant}';
const HOST_REST = /^(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+(?::\d{1,5})?$/;

/**
 * Host-based tenancy: a pattern such as `{tenant}.mcp.example.com` whose first label names the
 * tenant. Without a port in the pattern, any port matches.
 */
export class TenantHostPattern {
  private readonly suffix: string;
  private readonly withPort: boolean;

  constructor(readonly pattern: string) {
    const lower = pattern.toLowerCase();
    if (!lower.startsWith(PLACEHOLDER) || !HOST_REST.test(lower.slice(PLACEHOLDER.length))) {
      throw new ConfigError(`tenantHost "${pattern}" must look like "{tenant}.mcp.example.com" (optionally with a port).`);
    }
    this.suffix = lower.slice(PLACEHOLDER.length);
    const port = /:(\d+)$/.exec(this.suffix)?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65_535)) {
      throw new ConfigError(`tenantHost "${pattern}" has port ${port}; a port is a number from 1 to 65535.`);
    }
    this.withPort = port !== undefined;
  }

  /** The tenant a `Host` header names, or undefined when it does not match the pattern. */
  tenantOf(hostHeader: string | undefined): string | undefined {
    if (!hostHeader) return undefined;
    let host = hostHeader.trim().toLowerCase();
    if (!this.withPort) host = host.replace(/:\d+$/, '');
    if (!host.endsWith(this.suffix)) return undefined;
    const tenant = host.slice(0, host.length - this.suffix.length);
    return TENANT_ID.test(tenant) ? tenant : undefined;
  }

  /** The host of `tenant`. */
  host(tenant: string): string {
    return `${tenant}${this.suffix}`;
  }
}
