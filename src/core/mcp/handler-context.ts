import type { Logger } from '../log/logger.js';
import type { Principal } from '../ports/principal.js';
import type { TenantDb } from '../ports/database.js';
import type { McpLogLevel } from './notification-levels.js';

/**
 * What resource, prompt and completion handlers receive. Like the tool context, it never carries
 * the caller's credential.
 */
export interface HandlerContext {
  readonly principal: Principal;
  readonly tenant: string;
  /** Aborted when the client goes away, cancels, or the engine shuts down. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Data access restricted to `tenant`. */
  readonly db: TenantDb;
  readonly requestId: string;
  /**
   * Send an MCP log message (`notifications/message`) to the client, subject to the level it set
   * with `logging/setLevel`. Delivered on the response stream when the client accepts
   * `text/event-stream`; otherwise dropped.
   *
   * The message is handed to the stream at once; the promise is already resolved when returned and
   * never rejects, so a handler may call it without awaiting. A message that cannot be sent (`data`
   * that JSON cannot hold, a stream that failed or is gone) is dropped, and the engine logs it at
   * `warn` with the request id: a log line never fails the call.
   */
  log(level: McpLogLevel, data: unknown, loggerName?: string): Promise<void>;
  /**
   * Close the response's SSE stream now, before the result (MCP's SSE polling pattern). The call
   * goes on: the client reconnects with `Last-Event-ID`, on any instance, and receives what was
   * sent meanwhile and the result. Only within an MCP session whose client accepts
   * `text/event-stream`; elsewhere it does nothing.
   */
  closeStream(): void;
}
