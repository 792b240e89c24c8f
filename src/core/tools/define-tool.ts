import { z } from 'zod';
import type { PolicyDecision, PolicyRequest } from '../ports/policy.js';
import { ConfigError } from '../errors.js';
import { checkDurationMs } from '../kernel/option-checks.js';
import type { HandlerContext } from '../mcp/handler-context.js';

/** MCP tool annotations: hints for clients, never enforced. */
export interface ToolAnnotations {
  readonly title?: string;
  readonly readOnlyHint?: boolean;
  readonly destructiveHint?: boolean;
  readonly idempotentHint?: boolean;
  readonly openWorldHint?: boolean;
}

/**
 * What a tool handler receives besides its arguments: everything a resource or prompt handler gets
 * (principal, tenant, signal, logger, tenant-scoped `db`, request id, `log`) plus the tool-only
 * helpers below. It never contains the caller's credential.
 */
export interface ToolContext extends HandlerContext {
  /**
   * Report progress. Delivered as `notifications/progress` when the client asked for progress
   * (sent a progress token) and the response is streamed; otherwise a no-op. Like `log`, it never
   * rejects (a notification that cannot be sent is dropped and logged at `warn`), awaited or not.
   */
  progress(progress: number, total?: number, message?: string): Promise<void>;
  /**
   * Send a request to the client and wait for its result, e.g. `sampling/createMessage` or
   * `elicitation/create`. Travels on the response stream (or the session's standalone GET stream,
   * wherever the client holds it; the answer may reach any instance of a fleet); rejects
   * when the client cannot be reached, declared no such capability in its session, answers with
   * an error, or does not answer in time.
   */
  requestClient(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Tell this tenant's sessions subscribed to `uri` (`resources/subscribe`) that it changed. */
  resourceUpdated(uri: string): void;
  /**
   * Ask the engine's policy about a finer-grained target than the tool itself (e.g. one API
   * operation behind a generic "call" tool). To refuse, throw `PermissionDeniedError` with the
   * decision's reason: the call is then audited and answered as a denial.
   */
  authorize(request: PolicyRequest): Promise<PolicyDecision>;
  /**
   * Like {@link authorize}, for the target this call is about to act on: a "needs approval" answer
   * is settled here — it resolves (allowed) when an approved grant for exactly this call was
   * consumed, and otherwise throws (the call is held for approval, or denied); the engine answers
   * the caller. Resolves with an allowing decision, or throws `PermissionDeniedError` on denial.
   */
  authorizeCall(request: PolicyRequest): Promise<PolicyDecision>;
  /**
   * Name what this call really acted on, for the audit record (e.g. the operation id a generic
   * tool dispatched to), with optional extra facts.
   */
  auditTarget(target: string, details?: Readonly<Record<string, unknown>>): void;
}

/** MCP content blocks a handler may return verbatim. */
export type ToolContent =
  | { type: 'text'; text: string }
  | { type: 'image'; data: string; mimeType: string }
  | { type: 'audio'; data: string; mimeType: string }
  | { type: 'resource_link'; uri: string; name: string; mimeType?: string; description?: string }
  | { type: 'resource'; resource: { uri: string; mimeType?: string; text: string } | { uri: string; mimeType?: string; blob: string } };

/** A full tool result, for handlers that need control over content blocks. */
export interface ToolResult {
  readonly content: ToolContent[];
  readonly structuredContent?: Record<string, unknown>;
  readonly isError?: boolean;
}

/**
 * What a handler returns: a string (one text block), a `ToolResult` made with {@link toolResult},
 * or any JSON-serialisable object (returned as structured content plus its JSON text).
 */
export type ToolReturn = string | ToolResult | Record<string, unknown> | unknown[];

export type ZodObjectSchema = z.ZodObject<z.ZodRawShape>;

export interface ToolSpec<I extends ZodObjectSchema> {
  /** Unique across all plugins; `^[A-Za-z0-9._-]{1,128}$`. */
  readonly name: string;
  readonly title?: string;
  readonly description: string;
  /** The arguments' schema. Calls with invalid arguments get an `isError` result and never reach the handler. */
  readonly input: I;
  /** Optional output schema; when set, the handler's object result is checked against it. */
  readonly output?: ZodObjectSchema;
  /** The permission a caller needs (e.g. `tickets:read`); enforced by the loaded edition's policy. */
  readonly permission?: string;
  readonly annotations?: ToolAnnotations;
  /**
   * `'required'`: every call waits for a person's approval of that exact call (agent, tool,
   * arguments) before it runs. Editions without approvals refuse such calls.
   */
  readonly approval?: 'required';
  /** With `approval: 'required'`: how many different people must approve (1 or 2; default 1). */
  readonly approvers?: 1 | 2;
  /**
   * `'before'`: the call's audit intent is committed before the handler runs, so even a crash
   * leaves a record of a call that changed data (its outcome then reads `unknown`). Default: the
   * audit sink's choice (the Enterprise option `audit.durableWrites` makes it the default for tools
   * without `readOnlyHint`), otherwise `'after'`.
   */
  readonly durability?: 'before' | 'after';
  /**
   * This tool's deadline in ms (default: the engine's `callTimeoutMs`, 60 s). Past it `ctx.signal`
   * is aborted and the caller gets an `isError` result; a handler should stop when told.
   */
  readonly timeoutMs?: number;
  handler(args: z.output<I>, ctx: ToolContext): Promise<ToolReturn> | ToolReturn;
}

/** A tool as the engine holds it: the spec plus its precomputed JSON schemas. */
export interface ToolDefinition<I extends ZodObjectSchema = ZodObjectSchema> extends ToolSpec<I> {
  readonly kind: 'gatehouse.tool';
  readonly inputJsonSchema: Record<string, unknown>;
  readonly outputJsonSchema: Record<string, unknown> | undefined;
}

export const TOOL_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The JSON Schema (draft 2020-12) of a tool's input or output. The input schema keeps its
 * `$schema`, so clients know the dialect (`$defs`, `additionalProperties` and the rest are kept as
 * written); the output schema is sent without it, as before.
 */
function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  if (io === 'input') return json;
  const { $schema: _ignored, ...rest } = json;
  return rest;
}

/**
 * Declare a tool. Plain data plus a handler: no decorators, no container.
 *
 * ```ts
 * export const getTicket = defineTool({
 *   name: 'tickets.get',
 *   description: 'Returns one ticket by id.',
 *   permission: 'tickets:read',
 *   input: z.object({ id: z.string().uuid() }),
 *   annotations: { readOnlyHint: true },
 *   async handler({ id }, ctx) { return ctx.db.table('tickets').where({ id }).first(); },
 * });
 * ```
 */
export function defineTool<I extends ZodObjectSchema>(spec: ToolSpec<I>): ToolDefinition<I> {
  if (!TOOL_NAME.test(spec.name)) {
    throw new ConfigError(`Tool name "${spec.name}" is invalid: use 1-128 characters from A-Z a-z 0-9 . _ -`);
  }
  const input = spec.input as unknown as { safeParse?: unknown; def?: { type?: unknown } } | undefined;
  if (typeof input?.safeParse !== 'function' || input.def?.type !== 'object') {
    throw new ConfigError(`Tool "${spec.name}": input must be a zod object schema (z.object({...})).`);
  }
  if (spec.approval !== undefined && spec.approval !== 'required') {
    throw new ConfigError(`Tool "${spec.name}": approval must be 'required' or left out.`);
  }
  if (spec.durability !== undefined && spec.durability !== 'before' && spec.durability !== 'after') {
    throw new ConfigError(`Tool "${spec.name}": durability must be 'before' or 'after'.`);
  }
  if (spec.approvers !== undefined && spec.approvers !== 1 && spec.approvers !== 2) {
    throw new ConfigError(`Tool "${spec.name}": approvers must be 1 or 2.`);
  }
  if (spec.timeoutMs !== undefined) checkDurationMs(spec.timeoutMs, `Tool "${spec.name}": timeoutMs`);
  if (typeof spec.handler !== 'function') {
    throw new ConfigError(`Tool "${spec.name}": handler must be a function.`);
  }
  return Object.freeze({
    ...spec,
    kind: 'gatehouse.tool' as const,
    inputJsonSchema: jsonSchemaOf(spec.input, 'input'),
    outputJsonSchema: spec.output ? jsonSchemaOf(spec.output, 'output') : undefined,
  });
}

const TOOL_RESULT = Symbol.for('gatehouse.ToolResult');

/** Build a full tool result (e.g. several content blocks, or an error the model should see). */
export function toolResult(result: ToolResult): ToolResult {
  return Object.defineProperty({ ...result }, TOOL_RESULT, { value: true, enumerable: false });
}

export function isToolResult(value: unknown): value is ToolResult {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TOOL_RESULT] === true;
}
