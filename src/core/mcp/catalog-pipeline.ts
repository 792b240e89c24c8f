import { inject, injectable } from 'inversify';
import { Logger, safeLog } from '../log/logger.js';
import type { PolicyRequest } from '../ports/policy.js';
import type { ResourceContent, ResourceDefinition, ResourceReturn } from '../resources/define-resource.js';
import type { PromptMessage, PromptReturn } from '../prompts/define-prompt.js';
import { McpCatalog, McpCatalogToken } from './mcp-catalog.js';
import { HandlerContextFactory } from './handler-context-factory.js';
import { ErrorCode, ProtocolError, RpcErrorCode, invalidParams, isJsonObject, jsonKind, objectParam } from './jsonrpc.js';
import { unstorableText } from '../db/storable-text.js';
import type { CallContext } from './call-context.js';
import { clipClientText } from '../client-text.js';
import { GovernedCalls, type Failure, type Refusal } from './governed-call.js';
import { SessionStore } from './session-store.js';
import { promptResultProblem, readResultProblem, sendable } from './sendable-answer.js';

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

const refused = (refusal: Refusal): ProtocolError =>
  refusal.kind === 'denied'
    ? new ProtocolError(RpcErrorCode.PermissionDenied, refusal.message, refusal.missingPermission ? { missingPermission: refusal.missingPermission } : undefined)
    : invalidParams(refusal.message);

/** The JSON-RPC error of a failed handler: its own protocol error, else the tier of the failure. */
function failed(failure: Failure): ProtocolError {
  if (failure.thrown instanceof ProtocolError) return failure.thrown;
  if (failure.kind === 'denied') return new ProtocolError(RpcErrorCode.PermissionDenied, failure.message);
  if (failure.kind === 'timeout') return new ProtocolError(ErrorCode.RequestTimeout, failure.message);
  return new ProtocolError(ErrorCode.InternalError, failure.message);
}

/** -32002 for a URI no resource answers to: the URI quoted (and echoed in `data`) clipped, like any client text. */
const resourceNotFound = (uri: string): ProtocolError => new ProtocolError(RpcErrorCode.ResourceNotFound, `Resource not found: ${clipClientText(uri)}`, { uri: clipClientText(uri) });

const protocolMessage = (thrown: unknown): string | undefined => (thrown instanceof ProtocolError ? thrown.message : undefined);

/**
 * authorize → validate → execute → audit for resources, prompts and completions. The JSON-RPC
 * codes follow the mapping table in `jsonrpc.ts`.
 */
@injectable()
export class CatalogPipeline {
  constructor(
    @inject(McpCatalogToken) private readonly catalog: McpCatalog,
    @inject(GovernedCalls) private readonly governed: GovernedCalls,
    @inject(HandlerContextFactory) private readonly contexts: HandlerContextFactory,
    @inject(Logger) private readonly logger: Logger,
    @inject(SessionStore) private readonly sessions: SessionStore,
  ) {}

  async read(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const uri = params?.uri;
    if (typeof uri !== 'string') throw invalidParams('resources/read needs a "uri" string.');
    const found = this.catalog.resolve(uri);
    const governed = this.governed.begin(call, 'resources/read', uri, undefined, found ? { resource: found.entry.resource.name } : undefined);
    try {
      if (!found) {
        governed.target = clipClientText(uri);
        governed.record('refused', 'allowed', 'unknown resource');
        throw resourceNotFound(uri);
      }
      const { resource } = found.entry;
      const refusal = await governed.authorize({ kind: 'resource', name: resource.name, permission: resource.permission });
      if (refusal) throw refused(refusal);
      const ran = await governed.execute(
        () => resource.handler(found.params, Object.assign(this.contexts.create(call, { resource: resource.name }), { uri })),
        uri,
        protocolMessage,
      );
      if (!ran.ok) throw failed(ran.failure);
      if (ran.value === undefined || ran.value === null) {
        governed.record('refused', 'allowed', 'resource not found by its handler');
        throw resourceNotFound(uri);
      }
      // What is answered must be what the trail records: an answer that cannot be sent is a failure.
      const value = ran.value;
      const made = sendable(() => ({ contents: toContents(value, uri, resource) }), readResultProblem, 'the answer could not be read as resource contents');
      if ('problem' in made) throw failed(governed.unsendable(made.problem, clipClientText(uri)));
      governed.record('success', 'allowed', undefined);
      return made.answer;
    } catch (error) {
      governed.stopped(error);
      throw error;
    }
  }

  async subscribe(params: Record<string, unknown> | undefined, call: CallContext, on: boolean): Promise<unknown> {
    const session = call.session;
    if (!session) throw new ProtocolError(ErrorCode.InvalidRequest, 'Resource subscriptions need an MCP session (send MCP-Session-Id).');
    const uri = params?.uri;
    if (typeof uri !== 'string') throw invalidParams(`resources/${on ? 'subscribe' : 'unsubscribe'} needs a "uri" string.`);
    // Subscriptions are kept in the database, which cannot hold such text as it is; no resource has such a URI.
    const unstorable = unstorableText(uri);
    if (unstorable !== undefined) throw invalidParams(`resources/${on ? 'subscribe' : 'unsubscribe'}: "uri" ${unstorable}.`);
    if (!on) {
      if (session.subscriptions.has(uri)) {
        const rest = new Set(session.subscriptions);
        rest.delete(uri);
        await this.sessions.update(session, { subscriptions: rest });
      }
      return {};
    }
    const found = this.catalog.resolve(uri);
    if (!found) throw resourceNotFound(uri);
    const { resource } = found.entry;
    const governed = this.governed.begin(call, 'resources/subscribe', uri, undefined, { resource: resource.name });
    const decision = await governed.decide({ kind: 'resource', name: resource.name, permission: resource.permission });
    if (!decision.allow) {
      governed.record('denied', 'denied', decision.reason);
      throw refused({ kind: 'denied', reason: decision.reason, message: `Permission denied: ${decision.reason}`, missingPermission: decision.missingPermission });
    }
    if (session.subscriptions.size >= MAX_SUBSCRIPTIONS && !session.subscriptions.has(uri)) {
      throw new ProtocolError(ErrorCode.InvalidRequest, `A session may hold at most ${MAX_SUBSCRIPTIONS} subscriptions.`);
    }
    if (!session.subscriptions.has(uri)) await this.sessions.update(session, { subscriptions: new Set([...session.subscriptions, uri]) });
    return {};
  }

  async getPrompt(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const name = params?.name;
    if (typeof name !== 'string') throw invalidParams('prompts/get needs a "name" string.');
    const governed = this.governed.begin(call, 'prompts/get', name, objectParam(params, 'arguments', 'prompts/get') ?? {});
    try {
      const entry = this.catalog.prompt(name);
      if (!entry) {
        governed.target = clipClientText(name);
        governed.record('refused', 'allowed', 'unknown prompt');
        throw invalidParams(`Unknown prompt: ${clipClientText(name)}`);
      }
      const { prompt } = entry;
      const refusal = await governed.authorize({ kind: 'prompt', name, permission: prompt.permission });
      if (refusal) throw refused(refusal);
      const valid = governed.validate(prompt.arguments, `prompt ${name}`);
      if (!valid.ok) throw refused(valid.refusal);
      const ran = await governed.execute(
        async () => toMessages(await prompt.handler(valid.data as never, this.contexts.create(call, { prompt: name }))),
        `Prompt ${name}`,
        protocolMessage,
      );
      if (!ran.ok) throw failed(ran.failure);
      // What is answered must be what the trail records: an answer that cannot be sent is a failure.
      const made = sendable(
        (): { description?: string; messages: readonly PromptMessage[] } => {
          const value = ran.value as unknown;
          // Not an object: checked (and refused) as it is.
          if (typeof value !== 'object' || value === null) return value as never;
          const { messages } = value as { messages: readonly PromptMessage[] };
          const description = (value as { description?: string }).description ?? prompt.description;
          return description === undefined ? { messages } : { description, messages };
        },
        promptResultProblem,
        'the answer could not be read as prompt messages',
      );
      if ('problem' in made) throw failed(governed.unsendable(made.problem, `Prompt ${name}`));
      governed.record('success', 'allowed', undefined);
      return made.answer;
    } catch (error) {
      governed.stopped(error);
      throw error;
    }
  }

  /** Completion is not audited (it runs on every keystroke) but follows the same policy. */
  private async allowed(call: CallContext, request: PolicyRequest): Promise<void> {
    const decision = await this.governed.begin(call, 'completion/complete', request.name, undefined).decide(request);
    if (!decision.allow) throw refused({ kind: 'denied', reason: decision.reason, message: `Permission denied: ${decision.reason}`, missingPermission: decision.missingPermission });
  }

  async complete(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const ref = params?.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
    const argument = params?.argument as { name?: unknown; value?: unknown } | undefined;
    if (typeof argument?.name !== 'string' || typeof argument.value !== 'string') {
      throw invalidParams('completion/complete needs "argument" with "name" and "value" strings.');
    }
    const context = objectParam(params, 'context', 'completion/complete');
    const given = context?.arguments ?? {};
    if (!isJsonObject(given)) throw invalidParams(`Invalid params for completion/complete: "context.arguments" must be an object, not ${jsonKind(given)}.`);
    for (const [key, value] of Object.entries(given)) {
      if (typeof value !== 'string') throw invalidParams(`Invalid params for completion/complete: "context.arguments.${clipClientText(key)}" must be a string, not ${jsonKind(value)}.`);
    }
    const contextArgs = given as Record<string, string>;
    let completer;
    if (ref?.type === 'ref/prompt' && typeof ref.name === 'string') {
      const entry = this.catalog.prompt(ref.name);
      if (!entry) throw invalidParams(`Unknown prompt: ${clipClientText(ref.name)}`);
      await this.allowed(call, { kind: 'prompt', name: ref.name, permission: entry.prompt.permission });
      completer = entry.prompt.complete?.[argument.name];
    } else if (ref?.type === 'ref/resource' && typeof ref.uri === 'string') {
      const entry = this.catalog.template(ref.uri) ?? this.catalog.resolve(ref.uri)?.entry;
      if (!entry) throw resourceNotFound(ref.uri);
      const { resource } = entry;
      await this.allowed(call, { kind: 'resource', name: resource.name, permission: resource.permission });
      completer = resource.uriTemplate !== undefined ? resource.complete?.[argument.name] : undefined;
    } else {
      throw invalidParams('completion/complete needs a "ref" of type ref/prompt (with "name") or ref/resource (with "uri").');
    }
    if (!completer) return { completion: { values: [], total: 0, hasMore: false } };
    try {
      const values: unknown[] = [...(await completer(argument.value, { arguments: contextArgs, principal: call.principal }))];
      // Completion values are strings on the wire; anything else the client would refuse (or JSON could not hold).
      const odd = values.findIndex((value) => typeof value !== 'string');
      if (odd !== -1) {
        const problem = `values[${odd}] is not a string`;
        safeLog(this.logger, 'error', { requestId: call.requestId, problem }, 'completer answered something that cannot be sent');
        throw new ProtocolError(ErrorCode.InternalError, `Completion returned an answer that cannot be sent: ${problem} (request ${call.requestId}).`);
      }
      return { completion: { values: values.slice(0, MAX_COMPLETIONS), total: values.length, hasMore: values.length > MAX_COMPLETIONS } };
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      safeLog(this.logger, 'error', { err: error, requestId: call.requestId }, 'completion failed');
      throw new ProtocolError(ErrorCode.InternalError, `Completion failed with an internal error (request ${call.requestId}).`);
    }
  }
}
