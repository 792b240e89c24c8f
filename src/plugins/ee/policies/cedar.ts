import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';

/** The Cedar engine (`@cedar-policy/cedar-wasm`, its Node build). */
export type Cedar = typeof CedarWasm;
export type { DetailedError, SchemaJson, PolicyJson, EntityJson, CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';

const require = createRequire(import.meta.url);
const MODULE = '@cedar-policy/cedar-wasm/nodejs';

let loading: Promise<Cedar> | undefined;
let loaded: Cedar | undefined;
/** The WebAssembly instance the engine's calls currently go to. */
let instance: Cedar | undefined;
/** What a WebAssembly instance throws when it traps (the DOM typings Node's lack declare it). */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new () => Error } }).WebAssembly.RuntimeError;
const replacedListeners: (() => void)[] = [];

/** A Cedar call crashed its WebAssembly instance: that instance was replaced, the call failed. */
export class CedarCrashedError extends Error {
  constructor(readonly call: string, cause: unknown) {
    super(`the policy engine failed in ${call} (${cause instanceof Error ? cause.message : String(cause)}) and was restarted`, { cause });
    this.name = 'CedarCrashedError';
  }
}

/**
 * A fresh instance of Cedar's WebAssembly. The Node build is CommonJS and instantiates its module
 * when it is evaluated, so evaluating it again (out of the require cache) gives a new instance.
 */
function freshInstance(): Cedar {
  const entry = require.resolve(MODULE);
  const directory = dirname(entry);
  for (const key of Object.keys(require.cache)) if (dirname(key) === directory) delete require.cache[key];
  return require(entry) as Cedar;
}

/**
 * Replace the current WebAssembly instance with a fresh one: after a crash (an out-of-bounds
 * access, a stack overflow) an instance fails every later call. Whatever was registered in the
 * old one (preparsed policy sets) is gone: listeners of `onCedarReplaced` forget it.
 */
export function replaceCedarInstance(): void {
  instance = freshInstance();
  for (const listener of replacedListeners) listener();
}

/** Called after the WebAssembly instance was replaced (see `replaceCedarInstance`). */
export function onCedarReplaced(listener: () => void): void {
  replacedListeners.push(listener);
}

/** The engine's functions, each calling the current instance and replacing it when the call crashes it. */
function guarded(): Cedar {
  const engine: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(instance as object)) {
    if (typeof value !== 'function' || /^[A-Z]/.test(name)) {
      engine[name] = value;
      continue;
    }
    engine[name] = (...args: unknown[]): unknown => {
      try {
        return ((instance as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!)(...args);
      } catch (error) {
        // A trap, or the stack running out inside the instance: either can leave it unusable.
        if (!(error instanceof WasmRuntimeError) && !(error instanceof RangeError)) throw error;
        replaceCedarInstance();
        throw new CedarCrashedError(name, error);
      }
    };
  }
  return engine as unknown as Cedar;
}

/**
 * The Cedar engine, loaded once per process on first use (compiling its WebAssembly takes a moment,
 * so an engine without policies never pays for it). The package's default entry is for bundlers;
 * Node loads the CommonJS build under `/nodejs`. A call that crashes the WebAssembly instance
 * throws `CedarCrashedError`, and the next call goes to a fresh instance.
 */
export function loadCedar(): Promise<Cedar> {
  loading ??= Promise.resolve().then(() => {
    instance = require(MODULE) as Cedar;
    loaded = guarded();
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
