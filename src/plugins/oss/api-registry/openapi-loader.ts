import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { InvalidApiDocumentError } from './api-document-error.js';
import type { ApiDocumentSource } from './api-registry-options.js';

/** A parsed document and the name it goes by in errors. */
export interface LoadedDocument {
  readonly label: string;
  readonly content: Record<string, unknown>;
}

let yaml: typeof import('yaml') | undefined;

/** The YAML parser, loaded on the first YAML document: most engines never read one. */
function parseYaml(text: string): unknown {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text, { maxAliasCount: 1000 });
}

function parseText(text: string, label: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = /^\s*[{[]/.test(text) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new InvalidApiDocumentError(label, '#', `cannot be parsed as JSON or YAML: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidApiDocumentError(label, '#', 'the document must be an object');
  }
  return value as Record<string, unknown>;
}

function isRemote(source: ApiDocumentSource): source is string | URL {
  if (source instanceof URL) return source.protocol === 'http:' || source.protocol === 'https:';
  return typeof source === 'string' && /^https?:\/\//i.test(source);
}

/** Whether the source can be loaded without I/O that must wait (anything but an http(s) URL). */
export function isSynchronousSource(source: ApiDocumentSource): boolean {
  return !isRemote(source);
}

function labelOf(source: ApiDocumentSource, index: number): string {
  if (source instanceof URL) return source.href;
  if (typeof source === 'string') return source;
  const title = (source.info as { title?: unknown } | undefined)?.title;
  return typeof title === 'string' ? `"${title}"` : `#${index + 1}`;
}

/** Load a path, `file:` URL or object. */
export function loadSync(source: ApiDocumentSource, index: number, kind = 'document'): LoadedDocument {
  const label = labelOf(source, index);
  if (typeof source === 'object' && !(source instanceof URL)) {
    // A private deep copy: the host's object may change later, and the registry must not.
    return { label, content: structuredClone(source) };
  }
  const path = source instanceof URL || source.startsWith('file:') ? fileURLToPath(source) : source;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidApiDocumentError(label, '#', `the ${kind} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return { label, content: parseText(text, label) };
}

/** Load any source, fetching http(s) URLs. */
export async function load(source: ApiDocumentSource, index: number, signal?: AbortSignal): Promise<LoadedDocument> {
  if (!isRemote(source)) return loadSync(source, index);
  const label = labelOf(source, index);
  let response: Response;
  try {
    response = await fetch(source, { headers: { accept: 'application/json, application/yaml, text/yaml, */*' }, signal: signal ?? AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new InvalidApiDocumentError(label, '#', `the document cannot be fetched: ${(error as Error).message}`);
  }
  if (!response.ok) throw new InvalidApiDocumentError(label, '#', `fetching the document answered HTTP ${response.status}`);
  return { label, content: parseText(await response.text(), label) };
}

/**
 * Load an OpenAPI document from a path, URL or object, e.g. to fetch a remote document before
 * declaring a registry with direct tools.
 */
export async function loadOpenApiDocument(source: ApiDocumentSource): Promise<Record<string, unknown>> {
  return (await load(source, 0)).content;
}
