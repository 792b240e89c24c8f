/** Enterprise approval settings. */
export interface ApprovalSettings {
  /** How long a request waits for a decision, and an approved grant stays usable (default 15 minutes). */
  readonly ttlMs: number;
  /**
   * The admin UI's public URL (e.g. `https://mcp.example.com/admin`), for the link in webhook
   * deliveries. Default: the engine's public URL + `/admin`.
   */
  readonly uiUrl?: string;
  /** Webhook deliveries: attempts per event (default 5) and the first retry delay, doubled each time (default 1 s). */
  readonly webhookAttempts: number;
  readonly webhookRetryDelayMs: number;
  /** How long one delivery attempt may take (default 10 s). */
  readonly webhookTimeoutMs: number;
}

export const ApprovalSettings = Symbol.for('gatehouse.ee.ApprovalSettings');

export const DEFAULT_APPROVAL_SETTINGS: ApprovalSettings = Object.freeze({ ttlMs: 15 * 60_000, webhookAttempts: 5, webhookRetryDelayMs: 1000, webhookTimeoutMs: 10_000 });
