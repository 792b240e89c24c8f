/** Enterprise approval settings. */
export interface ApprovalSettings {
  /** How long a request waits for a decision, and an approved grant stays usable (default 15 minutes). */
  readonly ttlMs: number;
  /**
   * The admin UI's public URL (e.g. `https://mcp.example.com/admin`), for the link in webhook
   * deliveries. Default: the engine's public URL + `/admin`.
   */
  readonly uiUrl?: string;
}

export const ApprovalSettings = Symbol.for('gatehouse.ee.ApprovalSettings');

export const DEFAULT_APPROVAL_SETTINGS: ApprovalSettings = Object.freeze({ ttlMs: 15 * 60_000 });
