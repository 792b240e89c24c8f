import { inject, injectable } from 'inversify';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { AuditSink, type AuditEvent, type AuditOutcome } from '../ports/audit-sink.js';
import { Policy, type PolicyDecision } from '../ports/policy.js';
import { Logger } from '../log/logger.js';
import { AuditUnavailableError, PermissionDeniedError, ToolError } from '../errors.js';
import type { ResourceContent, ResourceDefinition, ResourceReturn } from '../resources/define-resource.js';
import type { PromptMessage, PromptReturn } from '../prompts/define-prompt.js';
import { McpCatalog, McpCatalogToken } from './mcp-catalog.js';
import { HandlerContextFactory } from './handler-context-factory.js';
import { ProtocolError, RpcErrorCode, invalidParams } from './jsonrpc.js';
import { callAuditEvent, type CallContext } from './call-context.js';

const MAX_COMPLETIONS = 100;
const MAX_SUBSCRIPTIONS = 1000;

function toContents(value: ResourceReturn, uri: string, resource: ResourceDefinition): ResourceContent[] {
  const mimeType = resource.mimeType;
  if (typeof value === 'string') return [{ uri, mimeType: mimeType ?? 'text/plain', text: value }];
  if (value instanceof Uint8Array) return [{ uri, mimeType: mimeType ?? 'application/octet-stream', blob: Buffer.from(value).toString('base64') }];
  const list = Array.isArray(value) ? (value as ResourceContent[]) : [value as ResourceContent];
  return list.map((content) => {
    const type = content.mimeType ?? mimeType;
    return type === undefined ? { ...content, uri: content.uri ?? uri } : { ...content, uri: content.uri ?? uri, mimeType: type };
  });
}

function toMessages(value: PromptReturn): { description?: string; messages: readonly PromptMessage[] } {
  if (typeof value === 'string') return { messages: [{ role: 'user', content: { type: 'text', text: value } }] };
  if (Array.isArray(value)) return { messages: value as readonly PromptMessage[] };
  return value as { description?: string; messages: readonly PromptMessage[] };
}

const denied = (decision: PolicyDecision): ProtocolError =>
  new ProtocolError(RpcErrorCode.PermissionDenied, `Permission denied: ${decision.reason}`, decision.missingPermission ? { missingPermission: decision.missingPermission } : undefined);

/**
 * authorize → validate → execute → audit for resources, prompts and completions. The JSON-RPC
 * codes follow the mapping table in `jsonrpc.ts`.
 */
@injectable()
export class CatalogPipeline {
  constructor(
    @inject(McpCatalogToken) private readonly catalog: McpCatalog,
    @inject(Policy) private readonly policy: Policy,
    @inject(AuditSink) private readonly audit: AuditSink,
    @inject(HandlerContextFactory) private readonly contexts: HandlerContextFactory,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  private recorder(call: CallContext, action: string, target: string, args: unknown, details?: Record<string, unknown>) {
    const started = performance.now();
    return (outcome: AuditOutcome, decision: AuditEvent['decision'], reason: string | undefined): void =>
      this.audit.record(callAuditEvent(call, started, { action, target, details, decision, reason, outcome, arguments: args }));
  }

  private failure(error: unknown, record: ReturnType<CatalogPipeline['recorder']>, call: CallContext, what: string): ProtocolError {
    if (error instanceof ProtocolError) {
      record('error', 'allowed', error.message);
      return error;
    }
    if (error instanceof PermissionDeniedError) {
      record('denied', 'denied', error.reason);
      return new ProtocolError(RpcErrorCode.PermissionDenied, error.message);
    }
    if (error instanceof ToolError) {
      record('error', 'allowed', error.message);
      return new ProtocolError(ErrorCode.InternalError, error.message);
    }
    this.logger.error({ err: error, target: what, requestId: call.requestId }, 'handler failed');
    record('failed', 'allowed', call.signal.aborted ? 'aborted' : 'handler threw');
    return new ProtocolError(ErrorCode.InternalError, `${what} failed with an internal error (request ${call.requestId}).`);
  }

  async read(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const uri = params?.uri;
    if (typeof uri !== 'string') throw invalidParams('resources/read needs a "uri" string.');
    const found = this.catalog.resolve(uri);
    const record = this.recorder(call, 'resources/read', uri, undefined, found ? { resource: found.entry.resource.name } : undefined);
    if (!found) {
      record('refused', 'allowed', 'unknown resource');
      throw new ProtocolError(RpcErrorCode.ResourceNotFound, `Resource not found: ${uri}`, { uri });
    }
    const { resource } = found.entry;
    const decision = await this.policy.decide(call.principal, { kind: 'resource', name: resource.name, permission: resource.permission });
    if (!decision.allow) {
      record('denied', 'denied', decision.reason);
      throw denied(decision);
    }
    if (!this.audit.accepting()) throw new AuditUnavailableError();
    let value: ResourceReturn | undefined | null;
    try {
      value = await resource.handler(found.params, Object.assign(this.contexts.create(call, { resource: resource.name }), { uri }));
    } catch (error) {
      throw this.failure(error, record, call, uri);
    }
    if (value === undefined || value === null) {
      record('refused', 'allowed', 'resource not found by its handler');
      throw new ProtocolError(RpcErrorCode.ResourceNotFound, `Resource not found: ${uri}`, { uri });
    }
    const contents = toContents(value, uri, resource);
    record('success', 'allowed', undefined);
    return { contents };
  }

  async subscribe(params: Record<string, unknown> | undefined, call: CallContext, on: boolean): Promise<unknown> {
    const session = call.session;
    if (!session) throw new ProtocolError(ErrorCode.InvalidRequest, 'Resource subscriptions need an MCP session (send MCP-Session-Id).');
    const uri = params?.uri;
    if (typeof uri !== 'string') throw invalidParams(`resources/${on ? 'subscribe' : 'unsubscribe'} needs a "uri" string.`);
    if (!on) {
      session.subscriptions.delete(uri);
      return {};
    }
    const found = this.catalog.resolve(uri);
    if (!found) throw new ProtocolError(RpcErrorCode.ResourceNotFound, `Resource not found: ${uri}`, { uri });
    const { resource } = found.entry;
    const decision = await this.policy.decide(call.principal, { kind: 'resource', name: resource.name, permission: resource.permission });
    if (!decision.allow) {
      this.recorder(call, 'resources/subscribe', uri, undefined, { resource: resource.name })('denied', 'denied', decision.reason);
      throw denied(decision);
    }
    if (session.subscriptions.size >= MAX_SUBSCRIPTIONS && !session.subscriptions.has(uri)) {
      throw new ProtocolError(ErrorCode.InvalidRequest, `A session may hold at most ${MAX_SUBSCRIPTIONS} subscriptions.`);
    }
    session.subscriptions.add(uri);
    return {};
  }

  async getPrompt(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const name = params?.name;
    if (typeof name !== 'string') throw invalidParams('prompts/get needs a "name" string.');
    const args = params?.arguments ?? {};
    const entry = this.catalog.prompt(name);
    const record = this.recorder(call, 'prompts/get', name, args);
    if (!entry) {
      record('refused', 'allowed', 'unknown prompt');
      throw invalidParams(`Unknown prompt: ${name}`);
    }
    const { prompt } = entry;
    const decision = await this.policy.decide(call.principal, { kind: 'prompt', name, permission: prompt.permission });
    if (!decision.allow) {
      record('denied', 'denied', decision.reason);
      throw denied(decision);
    }
    if (!this.audit.accepting()) throw new AuditUnavailableError();
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      record('refused', 'allowed', 'invalid arguments');
      throw invalidParams(`Invalid arguments for prompt ${name}: "arguments" must be an object.`);
    }
    let parsed: unknown = args;
    if (prompt.arguments) {
      const result = prompt.arguments.safeParse(args);
      if (!result.success) {
        const detail = result.error.issues.slice(0, 10).map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message)).join('; ');
        record('refused', 'allowed', `invalid arguments: ${detail}`);
        throw invalidParams(`Invalid arguments for prompt ${name}: ${detail}`);
      }
      parsed = result.data;
    }
    try {
      const result = toMessages(await prompt.handler(parsed as never, this.contexts.create(call, { prompt: name })));
      record('success', 'allowed', undefined);
      const description = result.description ?? prompt.description;
      return description === undefined ? { messages: result.messages } : { description, messages: result.messages };
    } catch (error) {
      throw this.failure(error, record, call, `Prompt ${name}`);
    }
  }

  async complete(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const ref = params?.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
    const argument = params?.argument as { name?: unknown; value?: unknown } | undefined;
    if (typeof argument?.name !== 'string' || typeof argument.value !== 'string') {
      throw invalidParams('completion/complete needs "argument" with "name" and "value" strings.');
    }
    const contextArgs = ((params?.context as { arguments?: unknown } | undefined)?.arguments ?? {}) as Record<string, string>;
    let completer;
    if (ref?.type === 'ref/prompt' && typeof ref.name === 'string') {
      const entry = this.catalog.prompt(ref.name);
      if (!entry) throw invalidParams(`Unknown prompt: ${ref.name}`);
      const decision = await this.policy.decide(call.principal, { kind: 'prompt', name: ref.name, permission: entry.prompt.permission });
      if (!decision.allow) throw denied(decision);
      completer = entry.prompt.complete?.[argument.name];
    } else if (ref?.type === 'ref/resource' && typeof ref.uri === 'string') {
      const entry = this.catalog.template(ref.uri) ?? this.catalog.resolve(ref.uri)?.entry;
      if (!entry) throw new ProtocolError(RpcErrorCode.ResourceNotFound, `Resource not found: ${ref.uri}`, { uri: ref.uri });
      const { resource } = entry;
      const decision = await this.policy.decide(call.principal, { kind: 'resource', name: resource.name, permission: resource.permission });
      if (!decision.allow) throw denied(decision);
      completer = resource.uriTemplate !== undefined ? resource.complete?.[argument.name] : undefined;
    } else {
      throw invalidParams('completion/complete needs a "ref" of type ref/prompt (with "name") or ref/resource (with "uri").');
    }
    if (!completer) return { completion: { values: [], total: 0, hasMore: false } };
    try {
      const values = [...(await completer(argument.value, { arguments: contextArgs, principal: call.principal }))];
      return { completion: { values: values.slice(0, MAX_COMPLETIONS), total: values.length, hasMore: values.length > MAX_COMPLETIONS } };
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      this.logger.error({ err: error, requestId: call.requestId }, 'completion failed');
      throw new ProtocolError(ErrorCode.InternalError, `Completion failed with an internal error (request ${call.requestId}).`);
    }
  }
}
