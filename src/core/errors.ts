/**
 * Typed errors. Every error the engine raises on purpose extends {@link GatehouseError} and carries
 * a stable `code`, so callers can match on it even when two copies of the package are loaded.
 */
export class GatehouseError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The engine refused to start: a plugin set that cannot work together. */
export class BootError extends GatehouseError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('boot_failed', message, options);
  }
}

/** Configuration that cannot be honoured. */
export class ConfigError extends GatehouseError {
  constructor(message: string) {
    super('invalid_config', message);
  }
}

/**
 * Raised by a tool handler to report a failure the caller should see (an `isError` tool result
 * with exactly this message). Any other exception thrown by a handler is reported as an internal
 * error without details.
 */
export class ToolError extends GatehouseError {
  constructor(message: string) {
    super('tool_error', message);
  }
}

/**
 * Raised by a tool handler after a policy denial of a finer-grained target (see
 * `ToolContext.authorize`): audited as `denied`, answered as a permission error.
 */
export class PermissionDeniedError extends GatehouseError {
  constructor(readonly reason: string) {
    super('permission_denied', `Permission denied: ${reason}`);
  }
}

/** A caller-visible HTTP failure with a JSON body. Thrown by routes; rendered by the HTTP layer. */
export class HttpError extends GatehouseError {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly details?: unknown;
  constructor(
    status: number,
    code: string,
    message: string,
    init: { headers?: Record<string, string>; details?: unknown } = {},
  ) {
    super(code, message);
    this.status = status;
    this.headers = init.headers ?? {};
    this.details = init.details;
  }
}

/** The audit trail cannot take more events; calls are refused rather than run unaudited. */
export class AuditUnavailableError extends GatehouseError {
  constructor(message = 'The audit trail is not accepting events; the call was not run.') {
    super('audit_unavailable', message);
  }
}

/**
 * A backing service the call needs (a database, a shared counter, the service that verifies
 * credentials) cannot be reached: the call was refused rather than run ungoverned. Answered with
 * 503 and `Retry-After` (`retryAfterSeconds`, default 5), with this message.
 */
export class DependencyUnavailableError extends GatehouseError {
  /** Seconds the caller should wait before trying again (at least 1). */
  readonly retryAfterSeconds: number;
  /**
   * Whoever raised it already logs the outage (once, not per request): the HTTP layer does not add
   * a warning for each refusal.
   */
  readonly reported: boolean;
  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number; reported?: boolean }) {
    super('dependency_unavailable', message, options);
    const seconds = options?.retryAfterSeconds;
    this.retryAfterSeconds = seconds !== undefined && Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : 5;
    this.reported = options?.reported ?? false;
  }
}

/** A tenant-scoped operation was attempted without a valid tenant. */
export class TenantRequiredError extends GatehouseError {
  constructor(message = 'A tenant is required for this operation.') {
    super('tenant_required', message);
  }
}

/**
 * A call that needs a person's approval was not run: it is held as approval request `approvalId`.
 * Raised by `ToolContext.authorizeCall`; the engine answers it (an `isError` result naming the
 * request, or a task that waits for the decision).
 */
export class ApprovalPendingError extends GatehouseError {
  constructor(
    readonly approvalId: string,
    message: string,
    readonly expiresAt?: Date,
  ) {
    super('approval_pending', message);
  }
}
