import type { Authenticator } from '../../../core/index.js';

/** Settings of the admin API, from `enterpriseEdition({ adminAuthenticator })`. */
export interface AdminSettings {
  /**
   * A host-provided authenticator for the admin API (e.g. the host application's own session).
   * Principals it accepts are admins of their tenant. Admin-scoped API keys keep working beside it.
   */
  readonly adminAuthenticator?: Authenticator;
}

export const AdminSettings = Symbol.for('gatehouse.ee.AdminSettings');
