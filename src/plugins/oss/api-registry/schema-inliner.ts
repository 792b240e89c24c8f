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
      let token: string;
      try {
        token = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
      } catch {
        this.fail(at, `$ref "${ref}" is not a valid JSON pointer (bad %-escape in "${raw}")`);
      }
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

const DEFS_PREFIX = '#/$defs/';

/**
 * Produces self-contained JSON Schemas from a document's schemas. Every local `$ref` is walked once
 * (whatever the number of places using it), so the work is linear in the document's size: a
 * schema used in one place is inlined there; one used in several places, or recursively, becomes
 * a `$ref` into a `$defs` section at the root of the produced schema, so the result stays finite,
 * small, serialisable and compilable. OpenAPI 3.0 dialect (`nullable`, boolean exclusive bounds)
 * is translated to JSON Schema 2020-12 on the way.
 */
export class SchemaInliner {
  private readonly defNames = new Map<string, string>();
  private readonly bodies = new Map<string, Json>();
  private readonly pending: string[] = [];

  constructor(
    private readonly refs: DocumentRefs,
    private readonly openapi30: boolean,
    /** Checks each shared schema once it is walked (it may throw for a schema that is not valid). */
    private readonly check: (schema: Json, pointer: string) => void = () => {},
  ) {}

  /** Walk the schema found at `pointer`; references in it stay pending until {@link finish}. */
  inline(schema: unknown, pointer: string): Json {
    return this.walk(schema, pointer);
  }

  /**
   * Resolve the references used in `schema` (call once, on the outermost schema that holds every
   * piece): single-use schemas are inlined, shared and recursive ones go to `$defs`.
   */
  finish(schema: Json): Json {
    while (this.pending.length) {
      const ref = this.pending.shift()!;
      const body = this.walk(this.refs.target(ref, ref), ref);
      this.check(body, ref);
      this.bodies.set(this.defNames.get(ref)!, body);
    }
    const uses = this.countUses(schema);
    const keep = new Set([...uses].filter(([, count]) => count > 1).map(([name]) => name));
    // A schema that is itself a reference is expanded at the root, so its properties are visible.
    const rootName = this.placeholderName(schema);
    const root = rootName === undefined ? this.expand(schema, keep) : this.expand(this.merged(schema as JsonObject, rootName), keep);
    if (keep.size === 0 || !isObject(root)) return root;
    const defs = [...keep].sort((a, b) => a.localeCompare(b)).map((name) => [name, this.expand(this.bodies.get(name)!, keep)] as const);
    return { ...root, $defs: Object.fromEntries(defs) };
  }

  private defName(ref: string): string {
    let name = this.defNames.get(ref);
    if (name) return name;
    const base = ref.replace(/^#\/components\/schemas\//, '').replace(/^#\/?/, '').replace(/[^A-Za-z0-9_.-]+/g, '_') || 'root';
    name = base;
    const taken = new Set(this.defNames.values());
    for (let n = 2; taken.has(name); n++) name = `${base}_${n}`;
    this.defNames.set(ref, name);
    this.pending.push(ref);
    return name;
  }

  private placeholderName(node: Json): string | undefined {
    if (!isObject(node) || typeof node.$ref !== 'string' || !node.$ref.startsWith(DEFS_PREFIX)) return undefined;
    const name = node.$ref.slice(DEFS_PREFIX.length);
    return this.bodies.has(name) ? name : undefined;
  }

  /** How many places use each shared schema, counting only what the root can reach. */
  private countUses(schema: Json): Map<string, number> {
    const uses = new Map<string, number>();
    const stack: Json[] = [schema];
    while (stack.length) {
      const node = stack.pop()!;
      if (Array.isArray(node)) stack.push(...node);
      else if (isObject(node)) {
        const name = this.placeholderName(node);
        if (name !== undefined) {
          const count = (uses.get(name) ?? 0) + 1;
          uses.set(name, count);
          if (count === 1) stack.push(this.bodies.get(name)!);
        }
        for (const [key, value] of Object.entries(node)) if (key !== '$ref') stack.push(value);
      }
    }
    return uses;
  }

  /** A reference's schema with the annotations written beside the reference. */
  private merged(placeholder: JsonObject, name: string): Json {
    const { $ref: _ref, ...extra } = placeholder;
    const body = this.bodies.get(name)!;
    return Object.keys(extra).length && isObject(body) ? { ...body, ...extra } : Object.keys(extra).length ? { allOf: [body], ...extra } : body;
  }

  /** A copy of `node` with single-use references replaced by their schema (each expanded once). */
  private expand(node: Json, keep: ReadonlySet<string>): Json {
    if (Array.isArray(node)) return node.map((item) => this.expand(item, keep));
    if (!isObject(node)) return node;
    const name = this.placeholderName(node);
    if (name !== undefined && !keep.has(name)) return this.expand(this.merged(node, name), keep);
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) out[key] = this.expand(value, keep);
    return out;
  }

  private walk(node: unknown, pointer: string): Json {
    if (typeof node === 'boolean') return node;
    if (!isObject(node)) this.refs.fail(pointer, 'a schema must be an object');
    if (typeof node.$ref === 'string') return this.reference(node, pointer);
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) {
      const at = `${pointer}/${pointerToken(key)}`;
      if (SCHEMA_MAPS.has(key)) {
        if (!isObject(value)) this.refs.fail(at, `"${key}" must be an object of schemas`);
        out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, this.walk(sub, `${at}/${pointerToken(name)}`)]));
      } else if (SCHEMA_LISTS.has(key) || (key === 'items' && Array.isArray(value))) {
        if (!Array.isArray(value)) this.refs.fail(at, `"${key}" must be an array of schemas`);
        out[key === 'items' ? 'prefixItems' : key] = value.map((sub, i) => this.walk(sub, `${at}/${i}`));
      } else if (SCHEMA_SINGLES.has(key)) {
        out[key] = this.walk(value, at);
      } else {
        out[key] = structuredClone(value) as Json;
      }
    }
    return this.openapi30 ? this.fromOpenApi30(out) : out;
  }

  private reference(node: Record<string, unknown>, pointer: string): Json {
    const ref = node.$ref as string;
    if (!this.defNames.has(ref)) this.refs.target(ref, `${pointer}/$ref`);
    const placeholder: JsonObject = { $ref: `${DEFS_PREFIX}${this.defName(ref)}` };
    const siblings = Object.entries(node).filter(([key]) => key !== '$ref');
    // OpenAPI 3.0 ignores the siblings of a $ref; 3.1 (JSON Schema 2020-12) applies them.
    if (this.openapi30 || siblings.length === 0) return placeholder;
    const extra = this.walk(Object.fromEntries(siblings), pointer) as JsonObject;
    if (Object.keys(extra).every((key) => ANNOTATIONS.has(key))) return { ...placeholder, ...extra };
    return { allOf: [placeholder], ...extra };
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
