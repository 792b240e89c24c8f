/**
 * Who is calling. Produced by the {@link Authenticator}, consumed by the policy, the audit sink and
 * tool handlers. It never carries the raw credential: tools must not see callers' tokens.
 */
export interface Principal {
  /** The tenant this principal acts in. Every data access of the call is scoped to it. */
  readonly tenant: string;
  /** What kind of credential authenticated it, e.g. `api-key` or `agent`. */
  readonly kind: string;
  /** A stable identifier, unique within the tenant and kind (an API key id, an agent id). */
  readonly id: string;
  /** A human-readable label for logs and audit (a key name, an agent name). */
  readonly label: string;
  /** Coarse scopes granted to the credential (e.g. `mcp`, `admin`). */
  readonly scopes: readonly string[];
  /** Edition-specific facts (issuer, subject, key id…); opaque to the core. */
  readonly attributes: Readonly<Record<string, unknown>>;
}
