import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';

/** The Cedar engine (`@cedar-policy/cedar-wasm`, its Node build). */
export type Cedar = typeof CedarWasm;
export type { DetailedError, SchemaJson, PolicyJson, EntityJson, CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';

let loading: Promise<Cedar> | undefined;
let loaded: Cedar | undefined;

/**
 * The Cedar engine, loaded once per process on first use (compiling its WebAssembly takes a moment,
 * so an engine without policies never pays for it). The package's default entry is for bundlers;
 * Node loads the CommonJS build under `/nodejs`.
 */
export function loadCedar(): Promise<Cedar> {
  loading ??= import('@cedar-policy/cedar-wasm/nodejs').then((module) => {
    loaded = ((module as unknown as { default?: Cedar }).default ?? module) as Cedar;
    return loaded;
  });
  return loading;
}

/** The engine when already loaded (the hot path avoids a promise). */
export function cedarIfLoaded(): Cedar | undefined {
  return loaded;
}

/** One of Cedar's messages for people: the message, then its help when it has one. */
export function cedarMessage(error: CedarWasm.DetailedError): string {
  const help = error.help ? ` (${error.help})` : '';
  // Cedar names the statement by the id it gave it (`policy0`), which means nothing to the author.
  return `${error.message.replace(/^for policy `[^`]*`, /, '')}${help}`;
}

/** Line and column (1-based) of a character offset in `text`. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let index = 0; index < offset && index < text.length; index++) {
    if (text.charCodeAt(index) === 10) {
      line++;
      start = index + 1;
    }
  }
  return { line, column: Math.max(1, offset - start + 1) };
}
