import type { Principal } from '../ports/principal.js';
import type { AuditEvent } from '../ports/audit-sink.js';
import type { JsonRpcId } from './jsonrpc.js';
import type { McpSession } from './session-store.js';
import type { RequestObservation } from '../telemetry/request-observation.js';

/** One MCP request as the dispatcher sees it: who is calling, and how to reach them meanwhile. */
export interface CallContext {
  readonly principal: Principal;
  readonly requestId: string;
  readonly clientAddress: string | undefined;
  /** Aborted when the client disconnects or cancels, the call runs past its deadline, or the engine shuts down. */
  readonly signal: AbortSignal;
  /** Abort `signal` (a call that ran past its deadline); absent where the call cannot be aborted. */
  readonly abort?: (reason: unknown) => void;
  /** The JSON-RPC id of the request being answered. */
  readonly rpcId?: JsonRpcId;
  /** The caller's session, when sessions are on and the request named one. */
  readonly session?: McpSession;
  /**
   * Send a JSON-RPC message (notification or server→client request) on the response stream.
   * Present when the client accepts `text/event-stream`; the first message turns the response
   * into an SSE stream, otherwise it stays plain JSON.
   */
  readonly send?: (message: unknown) => void;
  /** End the response stream before the response (resumable session streams only; else a no-op). */
  readonly closeStream?: () => void;
  /** The request's trace and metrics record (absent for calls made outside an HTTP request). */
  readonly observation?: RequestObservation;
}

/** The audit event of one governed MCP call: who and where from the call, the rest from `fields`. */
export function callAuditEvent(
  call: CallContext,
  started: number,
  fields: Pick<AuditEvent, 'action' | 'target' | 'details' | 'decision' | 'reason' | 'outcome' | 'arguments'>,
): AuditEvent {
  return {
    time: new Date(),
    tenant: call.principal.tenant,
    principal: call.principal,
    ...fields,
    latencyMs: performance.now() - started,
    requestId: call.requestId,
    clientAddress: call.clientAddress,
  };
}
