import { clipClientText } from '../client-text.js';

/**
 * What a handler returned, found to be something the engine cannot send: a value JSON cannot hold
 * (a BigInt, a structure that contains itself, a `toJSON` or getter that throws) or a shape the
 * protocol does not allow (a resource content without text or blob, a prompt message of another
 * role). Thrown while the answer is made from the handler's value; the governed call records it
 * as a failure naming `problem`, and the caller is told the same, never that the call succeeded.
 */
export class UnsendableAnswer extends Error {
  constructor(readonly problem: string) {
    super(`The answer cannot be sent: ${problem}`);
    this.name = 'UnsendableAnswer';
  }
}

/** Past this depth a value is reported as too deeply nested (JSON.stringify would exhaust the stack). */
const MAX_DEPTH = 1000;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `path` followed by `key`, as code would write it: `contents[0]._meta.count`. Keys are the handler's data: clipped. */
function member(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (IDENTIFIER.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(clipClientText(key, 40))}]`;
}

const named = (path: string): string => clipClientText(path === '' ? 'the answer' : path);

/** Why `value` cannot be written as JSON, found by walking it the way JSON.stringify does. */
function whyNotJson(value: unknown, path: string, key: string, ancestors: object[]): string | undefined {
  if (typeof value === 'bigint') return `${named(path)} is a BigInt, which JSON cannot hold`;
  if (typeof value !== 'object' || value === null) return undefined;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    let replaced: unknown;
    try {
      replaced = toJSON.call(value, key);
    } catch {
      return `${named(path)}.toJSON() threw`;
    }
    if (replaced !== value) return whyNotJson(replaced, path, key, ancestors);
  }
  if (ancestors.includes(value)) return `${named(path)} contains itself (a circular structure)`;
  if (ancestors.length >= MAX_DEPTH) return `${named(path)} is nested more than ${MAX_DEPTH} levels deep`;
  ancestors.push(value);
  try {
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const problem = whyNotJson(value[index], member(path, index), String(index), ancestors);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    for (const name of Object.keys(value)) {
      let item: unknown;
      try {
        item = (value as Record<string, unknown>)[name];
      } catch {
        return `reading ${named(member(path, name))} threw`;
      }
      const problem = whyNotJson(item, member(path, name), name, ancestors);
      if (problem !== undefined) return problem;
    }
    return undefined;
  } finally {
    ancestors.pop();
  }
}

/** Why `value` cannot be written as JSON, or undefined when it can; `root` names the value in the answer. */
export function jsonProblem(value: unknown, root = ''): string | undefined {
  try {
    JSON.stringify(value);
    return undefined;
  } catch {
    try {
      return whyNotJson(value, root, '', []) ?? 'it cannot be written as JSON';
    } catch {
      return 'it cannot be written as JSON';
    }
  }
}

function base64Problem(value: unknown, path: string): string | undefined {
  if (typeof value !== 'string') return `${named(path)} is not a string`;
  try {
    atob(value);
    return undefined;
  } catch {
    return `${named(path)} is not base64`;
  }
}

function metaProblem(item: Record<string, unknown>, path: string): string | undefined {
  return item._meta === undefined || isRecord(item._meta) ? undefined : `${named(member(path, '_meta'))} is not an object`;
}

/** One item of a resource's contents (also embedded in a content block): a `uri` with `text` or a base64 `blob`. */
function resourceContentsProblem(item: unknown, path: string): string | undefined {
  if (!isRecord(item)) return `${named(path)} is not an object`;
  if (typeof item.uri !== 'string') return `${named(member(path, 'uri'))} is not a string`;
  if (item.mimeType !== undefined && typeof item.mimeType !== 'string') return `${named(member(path, 'mimeType'))} is not a string`;
  const meta = metaProblem(item, path);
  if (meta !== undefined) return meta;
  if (typeof item.text === 'string') return undefined;
  if (item.blob !== undefined) return base64Problem(item.blob, member(path, 'blob'));
  return `${named(path)} has neither a "text" nor a "blob" string`;
}

const BLOCK_TYPES = 'text, image, audio, resource or resource_link';

/** One content block of a tool result or a prompt message. */
function contentBlockProblem(block: unknown, path: string): string | undefined {
  if (!isRecord(block)) return `${named(path)} is not an object`;
  const meta = metaProblem(block, path);
  if (meta !== undefined) return meta;
  switch (block.type) {
    case 'text':
      return typeof block.text === 'string' ? undefined : `${named(member(path, 'text'))} is not a string`;
    case 'image':
    case 'audio':
      return base64Problem(block.data, member(path, 'data')) ?? (typeof block.mimeType === 'string' ? undefined : `${named(member(path, 'mimeType'))} is not a string`);
    case 'resource':
      return resourceContentsProblem(block.resource, member(path, 'resource'));
    case 'resource_link':
      if (typeof block.uri !== 'string') return `${named(member(path, 'uri'))} is not a string`;
      return typeof block.name === 'string' ? undefined : `${named(member(path, 'name'))} is not a string`;
    default:
      return `${named(member(path, 'type'))} is not one of ${BLOCK_TYPES}`;
  }
}

function listProblem(list: unknown, path: string, item: (value: unknown, path: string) => string | undefined): string | undefined {
  if (!Array.isArray(list)) return `${named(path)} is not a list`;
  for (let index = 0; index < list.length; index++) {
    const problem = item(list[index], member(path, index));
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** What is wrong with a `resources/read` result, if anything: its shape first, then whether it is JSON. */
export function readResultProblem(result: { readonly contents: unknown }): string | undefined {
  return listProblem(result.contents, 'contents', resourceContentsProblem) ?? jsonProblem(result);
}

/** What is wrong with a `prompts/get` result, if anything. */
export function promptResultProblem(result: unknown): string | undefined {
  if (!isRecord(result)) return 'the answer is not a list of messages';
  if (result.description !== undefined && typeof result.description !== 'string') return 'description is not a string';
  const shape = listProblem(result.messages, 'messages', (message, path) => {
    if (!isRecord(message)) return `${named(path)} is not an object`;
    if (message.role !== 'user' && message.role !== 'assistant') return `${named(member(path, 'role'))} is neither "user" nor "assistant"`;
    return contentBlockProblem(message.content, member(path, 'content'));
  });
  return shape ?? jsonProblem(result);
}

/** What is wrong with a `tools/call` result made of the handler's own blocks (`toolResult`), if anything. */
export function toolResultProblem(result: Readonly<Record<string, unknown>>): string | undefined {
  const shape =
    listProblem(result.content, 'content', contentBlockProblem) ??
    (result.structuredContent !== undefined && !isRecord(result.structuredContent) ? 'structuredContent is not an object' : undefined) ??
    (result.isError !== undefined && typeof result.isError !== 'boolean' ? 'isError is not a boolean' : undefined);
  return shape ?? jsonProblem(result);
}

/**
 * The answer `make` builds from a handler's value, or what `check` finds wrong with it; when
 * building or checking it throws (the value is not the shape it claims), `unreadable` is the problem.
 */
export function sendable<T>(make: () => T, check: (answer: T) => string | undefined, unreadable: string): { readonly answer: T } | { readonly problem: string } {
  try {
    const answer = make();
    const problem = check(answer);
    return problem === undefined ? { answer } : { problem };
  } catch {
    return { problem: unreadable };
  }
}
