import type { Principal } from '../ports/principal.js';

/** One MCP request as the dispatcher sees it: who is calling, and how to reach them meanwhile. */
export interface CallContext {
  readonly principal: Principal;
  readonly requestId: string;
  readonly clientAddress: string | undefined;
  /** Aborted when the client disconnects or the engine shuts down. */
  readonly signal: AbortSignal;
  /**
   * Send a notification on the response stream. Present only when the response is streamed
   * (the client accepts `text/event-stream` and asked for progress).
   */
  readonly notify?: (method: string, params: Record<string, unknown>) => void;
}
