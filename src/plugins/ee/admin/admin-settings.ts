import type { RouteRequest } from '../../../core/index.js';

/** What a host's admin authenticator says about an admin request it accepts. */
export interface HostAdmin {
  /** The tenant the admin acts in. */
  readonly tenant: string;
  /** Who it is, for the audit trail (an e-mail, a user id). */
  readonly label: string;
}

/** Settings of the admin API. */
export interface AdminSettings {
  /**
   * The host's own admin authentication (its session, its SSO). Returning undefined falls back to
   * API keys with scope `admin`.
   */
  readonly adminAuthenticator?: (req: RouteRequest) => Promise<HostAdmin | undefined>;
}

export const AdminSettings = Symbol.for('gatehouse.ee.AdminSettings');
