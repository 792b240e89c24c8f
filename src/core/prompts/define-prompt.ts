import { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { HandlerContext } from '../mcp/handler-context.js';
import type { ArgumentCompleter } from '../resources/define-resource.js';

/** Content of one prompt message. */
export type PromptContent =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'image'; readonly data: string; readonly mimeType: string }
  | { readonly type: 'audio'; readonly data: string; readonly mimeType: string }
  | { readonly type: 'resource'; readonly resource: { readonly uri: string; readonly mimeType?: string; readonly text: string } | { readonly uri: string; readonly mimeType?: string; readonly blob: string } }
  | { readonly type: 'resource_link'; readonly uri: string; readonly name: string; readonly mimeType?: string; readonly description?: string };

export interface PromptMessage {
  readonly role: 'user' | 'assistant';
  readonly content: PromptContent;
}

/**
 * What a prompt handler returns: a string (one user text message), a list of messages, or the
 * messages with a description.
 */
export type PromptReturn = string | readonly PromptMessage[] | { readonly description?: string; readonly messages: readonly PromptMessage[] };

/** Prompt arguments are strings on the wire; optional ones may be `.optional()`. */
export type PromptArgumentsSchema = z.ZodObject<Record<string, z.ZodType<string | undefined>>>;

export interface PromptSpec<A extends PromptArgumentsSchema> {
  /** Unique across all plugins' prompts; the policy sees it as the target name (kind `prompt`). */
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  /** The arguments, as a zod object of strings; `.describe()` texts become argument descriptions. */
  readonly arguments?: A;
  /** The permission a caller needs; enforced by the loaded edition's policy, like a tool's. */
  readonly permission?: string;
  /** Completion of arguments (`completion/complete` with `ref/prompt`). */
  readonly complete?: Readonly<Record<string, ArgumentCompleter>>;
  handler(args: z.output<A>, ctx: HandlerContext): Promise<PromptReturn> | PromptReturn;
}

export interface PromptArgument {
  readonly name: string;
  readonly description?: string;
  readonly required: boolean;
}

/** A prompt as the engine holds it. */
export interface PromptDefinition<A extends PromptArgumentsSchema = PromptArgumentsSchema> extends PromptSpec<A> {
  readonly kind: 'gatehouse.prompt';
  readonly argumentList: readonly PromptArgument[];
}

const PROMPT_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Declare a prompt. Plain data plus a handler, like {@link defineTool}:
 *
 * ```ts
 * export const triage = definePrompt({
 *   name: 'tickets.triage',
 *   description: 'Triage one ticket.',
 *   arguments: z.object({ id: z.string().describe('Ticket id') }),
 *   handler: ({ id }) => `Triage ticket ${id}: read it, set a priority, suggest an owner.`,
 * });
 * ```
 */
export function definePrompt<A extends PromptArgumentsSchema = z.ZodObject<{}>>(spec: PromptSpec<A>): PromptDefinition<A> {
  if (!PROMPT_NAME.test(spec.name)) throw new ConfigError(`Prompt name "${spec.name}" is invalid: use 1-128 characters from A-Z a-z 0-9 . _ -`);
  if (typeof spec.handler !== 'function') throw new ConfigError(`Prompt "${spec.name}": handler must be a function.`);
  const shape = (spec.arguments as unknown as { shape?: Record<string, z.ZodType> } | undefined)?.shape;
  if (spec.arguments !== undefined && (typeof shape !== 'object' || shape === null)) {
    throw new ConfigError(`Prompt "${spec.name}": arguments must be a zod object schema (z.object({...})).`);
  }
  const argumentList = Object.entries(shape ?? {}).map(([name, schema]) => {
    const argument: { name: string; description?: string; required: boolean } = { name, required: !schema.safeParse(undefined).success };
    if (schema.description) argument.description = schema.description;
    return argument;
  });
  for (const name of Object.keys(spec.complete ?? {})) {
    if (!argumentList.some((argument) => argument.name === name)) throw new ConfigError(`Prompt "${spec.name}" completes "${name}", which is not one of its arguments.`);
  }
  return Object.freeze({ ...spec, kind: 'gatehouse.prompt' as const, argumentList });
}
