import { InvalidApiDocumentError, pointerToken } from './api-document-error.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const SCHEMA_SINGLES = new Set([
  'additionalProperties', 'items', 'additionalItems', 'not', 'if', 'then', 'else', 'contains',
  'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'contentSchema',
]);
/** Keywords that only annotate: merged into a referenced schema rather than combined with allOf. */
const ANNOTATIONS = new Set(['description', 'title', 'example', 'examples', 'deprecated', 'readOnly', 'writeOnly', 'default', 'externalDocs', '$comment']);

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The parts of a document `$ref`s may point into: local references only. */
export class DocumentRefs {
  constructor(
    readonly label: string,
    readonly root: Record<string, unknown>,
  ) {}

  fail(pointer: string, problem: string): never {
    throw new InvalidApiDocumentError(this.label, pointer, problem);
  }

  /** The value a local `$ref` names; `at` is where the reference was found. */
  target(ref: string, at: string): unknown {
    if (!ref.startsWith('#')) this.fail(at, `$ref "${ref}" is not a local reference (only "#/..." references are supported)`);
    if (ref === '#') return this.root;
    if (!ref.startsWith('#/')) this.fail(at, `$ref "${ref}" is not a JSON pointer`);
    let node: unknown = this.root;
    for (const raw of ref.slice(2).split('/')) {
      const token = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
      if (Array.isArray(node) && /^\d+$/.test(token)) node = node[Number(token)];
      else if (isObject(node) && Object.hasOwn(node, token)) node = node[token];
      else node = undefined;
      if (node === undefined) this.fail(at, `$ref "${ref}" points at nothing`);
    }
    return node;
  }

  /**
   * Follow `$ref` chains of a non-schema object (a parameter, request body, response…). Returns
   * the object and the pointer it really lives at.
   */
  follow(node: unknown, pointer: string, what: string): { value: Record<string, unknown>; pointer: string } {
    const seen = new Set<string>();
    let value = node;
    let at = pointer;
    while (isObject(value) && typeof value.$ref === 'string') {
      const ref = value.$ref;
      if (seen.has(ref)) this.fail(at, `$ref "${ref}" is circular`);
      seen.add(ref);
      value = this.target(ref, at);
      at = ref;
    }
    if (!isObject(value)) this.fail(at, `${what} must be an object`);
    return { value, pointer: at };
  }
}

/**
 * Produces self-contained JSON Schemas from a document's schemas: local `$ref`s are inlined, and a
 * reference back into a schema that is still being inlined (recursion) becomes a `$ref` into a
 * `$defs` section at the root of the produced schema, so the result stays finite, serialisable
 * and compilable. OpenAPI 3.0 dialect (`nullable`, boolean exclusive bounds) is translated to JSON
 * Schema 2020-12 on the way.
 */
export class SchemaInliner {
  private readonly defNames = new Map<string, string>();
  private readonly defs = new Map<string, Json>();

  constructor(
    private readonly refs: DocumentRefs,
    private readonly openapi30: boolean,
  ) {}

  /** Inline the schema found at `pointer`. Combine results with {@link finish}. */
  inline(schema: unknown, pointer: string): Json {
    return this.walk(schema, pointer, []);
  }

  /** Attach the `$defs` recursion needed to `schema` (call once, on the outermost schema). */
  finish(schema: Json): Json {
    for (let done = 0; done !== this.defNames.size; ) {
      done = this.defNames.size;
      for (const [ref, name] of [...this.defNames]) {
        if (this.defs.has(name)) continue;
        this.defs.set(name, true);
        this.defs.set(name, this.walk(this.refs.target(ref, ref), ref, [ref]));
      }
    }
    if (this.defs.size === 0 || !isObject(schema)) return schema;
    return { ...schema, $defs: Object.fromEntries([...this.defs].sort(([a], [b]) => a.localeCompare(b))) };
  }

  private defName(ref: string): string {
    let name = this.defNames.get(ref);
    if (name) return name;
    const base = ref.replace(/^#\/components\/schemas\//, '').replace(/^#\/?/, '').replace(/[^A-Za-z0-9_.-]+/g, '_') || 'root';
    name = base;
    const taken = new Set(this.defNames.values());
    for (let n = 2; taken.has(name); n++) name = `${base}_${n}`;
    this.defNames.set(ref, name);
    return name;
  }

  private walk(node: unknown, pointer: string, stack: readonly string[]): Json {
    if (typeof node === 'boolean') return node;
    if (!isObject(node)) this.refs.fail(pointer, 'a schema must be an object');
    if (typeof node.$ref === 'string') return this.reference(node, pointer, stack);
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) {
      const at = `${pointer}/${pointerToken(key)}`;
      if (SCHEMA_MAPS.has(key)) {
        if (!isObject(value)) this.refs.fail(at, `"${key}" must be an object of schemas`);
        out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, this.walk(sub, `${at}/${pointerToken(name)}`, stack)]));
      } else if (SCHEMA_LISTS.has(key) || (key === 'items' && Array.isArray(value))) {
        if (!Array.isArray(value)) this.refs.fail(at, `"${key}" must be an array of schemas`);
        out[key === 'items' ? 'prefixItems' : key] = value.map((sub, i) => this.walk(sub, `${at}/${i}`, stack));
      } else if (SCHEMA_SINGLES.has(key)) {
        out[key] = this.walk(value, at, stack);
      } else {
        out[key] = structuredClone(value) as Json;
      }
    }
    return this.openapi30 ? this.fromOpenApi30(out) : out;
  }

  private reference(node: Record<string, unknown>, pointer: string, stack: readonly string[]): Json {
    const ref = node.$ref as string;
    const siblings = Object.entries(node).filter(([key]) => key !== '$ref');
    let resolved: Json;
    if (stack.includes(ref)) {
      resolved = { $ref: `#/$defs/${this.defName(ref)}` };
    } else {
      resolved = this.walk(this.refs.target(ref, `${pointer}/$ref`), ref, [...stack, ref]);
    }
    // OpenAPI 3.0 ignores the siblings of a $ref; 3.1 (JSON Schema 2020-12) applies them.
    if (this.openapi30 || siblings.length === 0) return resolved;
    const extra = this.walk(Object.fromEntries(siblings), pointer, stack) as JsonObject;
    if (isObject(resolved) && !('$ref' in resolved) && Object.keys(extra).every((key) => ANNOTATIONS.has(key))) return { ...resolved, ...extra };
    return { allOf: [resolved], ...extra };
  }

  private fromOpenApi30(schema: JsonObject): JsonObject {
    for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
      if (schema[flag] === true && typeof schema[bound] === 'number') {
        schema[flag] = schema[bound];
        delete schema[bound];
      } else if (schema[flag] === false) {
        delete schema[flag];
      }
    }
    if (schema.nullable !== true) {
      delete schema.nullable;
      return schema;
    }
    delete schema.nullable;
    if (typeof schema.type === 'string') {
      schema.type = [schema.type, 'null'];
      if (Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum = [...schema.enum, null];
      return schema;
    }
    return { anyOf: [schema, { type: 'null' }] };
  }
}

export type { Json, JsonObject };
