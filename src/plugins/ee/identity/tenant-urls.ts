import { inject, injectable } from 'inversify';
import { ConfigError, EngineConfig, mcpResourceUrl, tenantOrigin } from '../../../core/index.js';
import { EnterpriseSettings } from './enterprise-options.js';

/** The well-known prefix of Protected Resource Metadata (RFC 9728). */
export const PRM_PREFIX = '/.well-known/oauth-protected-resource';

/** Canonical URLs of a tenant under the configured tenancy, always from configuration (never `Host`). */
@injectable()
export class TenantUrls {
  constructor(
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(EnterpriseSettings) private readonly settings: EnterpriseSettings,
  ) {
    if (settings.tenancy === 'host' && !config.tenantHost) {
      throw new ConfigError('enterpriseEdition({ tenancy: "host" }) needs the engine option tenantHost, e.g. "{tenant}.mcp.example.com".');
    }
  }

  /** The tenant a request to the MCP endpoint is for, or undefined when the URL names none it serves. */
  tenantOf(tenantHint: string | undefined): string | undefined {
    if (this.settings.tenancy === 'single') return tenantHint === undefined || tenantHint === this.settings.tenant ? this.settings.tenant : undefined;
    return tenantHint;
  }

  /** The canonical MCP URL of `tenant`: the audience its tokens must carry by default. */
  resource(tenant: string): string {
    return this.settings.tenancy === 'single' ? mcpResourceUrl(this.config) : mcpResourceUrl(this.config, tenant);
  }

  /** The path (under the base path) of the tenant's Protected Resource Metadata. */
  metadataPath(tenant: string): string {
    return this.settings.tenancy === 'path' ? `${PRM_PREFIX}/t/${tenant}${this.config.mcpPath}` : `${PRM_PREFIX}${this.config.mcpPath}`;
  }

  /**
   * The absolute URL of the tenant's Protected Resource Metadata, sent in 401 challenges: where
   * RFC 9728 §3.1 places it, the well-known prefix at the origin root followed by the resource's
   * whole path (base path included).
   */
  metadataUrl(tenant: string): string {
    const origin = this.settings.tenancy === 'host' ? tenantOrigin(this.config, tenant) : this.config.publicUrl;
    return `${origin}${PRM_PREFIX}${this.config.basePath}${this.metadataPath(tenant).slice(PRM_PREFIX.length)}`;
  }
}
