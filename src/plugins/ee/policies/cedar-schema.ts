import type { CedarValueJson, SchemaJson } from './cedar.js';

/** The Cedar type of an argument, derived from the target's input JSON Schema. */
export type ArgumentType =
  | { readonly kind: 'String' | 'Long' | 'Boolean' | 'Decimal' }
  | { readonly kind: 'Set'; readonly element: ArgumentType }
  | { readonly kind: 'Record'; readonly attributes: ReadonlyMap<string, { readonly type: ArgumentType; readonly required: boolean }> };

export type RecordType = Extract<ArgumentType, { kind: 'Record' }>;

/** A target policies can name: a tool, or an API operation reached through a tool. */
export interface PolicyTarget {
  readonly kind: 'tool' | 'operation';
  readonly name: string;
  readonly description: string;
  /** The input JSON Schema callers see. */
  readonly inputSchema: Record<string, unknown>;
  /** The JSON Schema of the arguments as the handler receives them (defaults applied), if different. */
  readonly argumentSchema?: Record<string, unknown>;
}

/** One Cedar action per target. */
export interface PolicyAction {
  readonly id: string;
  readonly target: PolicyTarget;
  readonly arguments: RecordType;
}

/** What a policy-set schema is made of: the actions, the schema (JSON, for Cedar) and its text (for people). */
export interface PolicySchema {
  readonly json: SchemaJson<string>;
  readonly actions: ReadonlyMap<string, PolicyAction>;
  /** The action of a target, if policies can name it. */
  actionOf(kind: string, name: string): PolicyAction | undefined;
}

/** The action id of an API operation: prefixed, so it never collides with a tool's name. */
export const operationAction = (id: string): string => `operation:${id}`;

const MAX_DEPTH = 8;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function resolve(schema: Json, root: Json): Json | undefined {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
  if (!match) return undefined;
  const defs = root[match[1]!];
  const found = isObject(defs) ? defs[match[2]!.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  return isObject(found) ? found : undefined;
}

/** The schema without its `null` alternative, and whether it had one. */
function withoutNull(schema: Json): { schema: Json; nullable: boolean } {
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key];
    if (!Array.isArray(options)) continue;
    const rest = options.filter((option) => !(isObject(option) && option.type === 'null'));
    if (rest.length === 1 && isObject(rest[0]) && rest.length < options.length) return { schema: rest[0], nullable: true };
    return { schema, nullable: false };
  }
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((type) => type !== 'null');
    if (types.length === 1) return { schema: { ...schema, type: types[0] }, nullable: types.length < schema.type.length };
  }
  return { schema, nullable: false };
}

/**
 * The Cedar type of a JSON Schema, or undefined when Cedar cannot express it (unions, maps with
 * free keys, tuples, recursion deeper than eight levels): such arguments are not in the context.
 */
export function argumentType(given: unknown, root: Json, depth = 0): { type: ArgumentType; nullable: boolean } | undefined {
  if (depth > MAX_DEPTH || !isObject(given)) return undefined;
  const resolved = resolve(given, root);
  if (!resolved) return undefined;
  const { schema, nullable } = withoutNull(resolved);
  if (schema.$ref !== undefined) {
    const inner = argumentType(schema, root, depth + 1);
    return inner ? { type: inner.type, nullable: nullable || inner.nullable } : undefined;
  }
  let type = schema.type;
  if (type === undefined) {
    if (Array.isArray(schema.enum) && schema.enum.length && schema.enum.every((item) => typeof item === 'string')) type = 'string';
    else if (typeof schema.const === 'string') type = 'string';
    else if (isObject(schema.properties)) type = 'object';
  }
  switch (type) {
    case 'string':
      return { type: { kind: 'String' }, nullable };
    case 'integer':
      return { type: { kind: 'Long' }, nullable };
    case 'number':
      return { type: { kind: 'Decimal' }, nullable };
    case 'boolean':
      return { type: { kind: 'Boolean' }, nullable };
    case 'array': {
      const element = argumentType(schema.items, root, depth + 1);
      return element && !element.nullable ? { type: { kind: 'Set', element: element.type }, nullable } : undefined;
    }
    case 'object': {
      if (!isObject(schema.properties)) return undefined;
      return { type: recordOf(schema, root, depth), nullable };
    }
    default:
      return undefined;
  }
}

function recordOf(schema: Json, root: Json, depth: number): RecordType {
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((name): name is string => typeof name === 'string') : []);
  const attributes = new Map<string, { type: ArgumentType; required: boolean }>();
  for (const [name, property] of Object.entries(isObject(schema.properties) ? schema.properties : {})) {
    const found = argumentType(property, root, depth + 1);
    if (found) attributes.set(name, { type: found.type, required: required.has(name) && !found.nullable });
  }
  return { kind: 'Record', attributes };
}

/** The record type of a target's arguments (an empty record when the schema declares none). */
export function argumentsType(schema: Record<string, unknown>): RecordType {
  const resolved = resolve(schema, schema) ?? {};
  return isObject(resolved.properties) ? recordOf(resolved, schema, 0) : { kind: 'Record', attributes: new Map() };
}

type CedarType = Json;

function cedarType(type: ArgumentType): CedarType {
  switch (type.kind) {
    case 'String':
    case 'Long':
    case 'Boolean':
      return { type: type.kind };
    case 'Decimal':
      return { type: 'Extension', name: 'decimal' };
    case 'Set':
      return { type: 'Set', element: cedarType(type.element) };
    case 'Record':
      return {
        type: 'Record',
        attributes: Object.fromEntries([...type.attributes].map(([name, attribute]) => [name, { ...cedarType(attribute.type), required: attribute.required }])),
      };
  }
}

/**
 * The schema policies are validated against, generated from the targets:
 *
 * - `Tenant`: the resource of every action (the tenant whose policy set it is);
 * - `Agent in [Tenant]`: the principal, with `name`, `roles` (role names), `idp` (its identity
 *   provider's name, or "") and `issuer`, and the attributes the admin set on it as tags
 *   (`principal.getTag("board")`);
 * - one action per tool (its name) and per API operation (`operation:<id>`), each with the context
 *   `arguments` (typed from the input schema), `time`, `clientAddress` (optional) and `credential`.
 */
export function buildPolicySchema(targets: readonly PolicyTarget[]): PolicySchema {
  const actions = new Map<string, PolicyAction>();
  for (const target of targets) {
    const id = target.kind === 'tool' ? target.name : operationAction(target.name);
    if (actions.has(id)) continue;
    actions.set(id, { id, target, arguments: argumentsType(target.argumentSchema ?? target.inputSchema) });
  }
  const context = (action: PolicyAction): CedarType => ({
    type: 'Record',
    attributes: {
      arguments: { ...cedarType(action.arguments), required: true },
      time: { type: 'EntityOrCommon', name: 'Time', required: true },
      clientAddress: { type: 'Extension', name: 'ipaddr', required: false },
      credential: { type: 'String', required: true },
    },
  });
  const json = {
    '': {
      commonTypes: {
        Time: {
          type: 'Record',
          attributes: {
            now: { type: 'Extension', name: 'datetime' },
            date: { type: 'String' },
            hour: { type: 'Long' },
            minute: { type: 'Long' },
            weekday: { type: 'Long' },
            timeZone: { type: 'String' },
          },
        },
      },
      entityTypes: {
        Tenant: {},
        Agent: {
          memberOfTypes: ['Tenant'],
          shape: {
            type: 'Record',
            attributes: { name: { type: 'String' }, roles: { type: 'Set', element: { type: 'String' } }, idp: { type: 'String' }, issuer: { type: 'String' } },
          },
          tags: { type: 'String' },
        },
      },
      actions: Object.fromEntries(
        [...actions.values()].map((action) => [action.id, { appliesTo: { principalTypes: ['Agent'], resourceTypes: ['Tenant'], context: context(action) } }]),
      ),
    },
  } as unknown as SchemaJson<string>;
  const byTarget = new Map([...actions.values()].map((action) => [`${action.target.kind}\u0000${action.target.name}`, action]));
  return { json, actions, actionOf: (kind, name) => byTarget.get(`${kind}\u0000${name}`) };
}

/** Arguments that cannot be given to Cedar as their declared type (the call is refused). */
export class ArgumentConversionError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`argument ${path}: ${detail}`);
    this.name = 'ArgumentConversionError';
  }
}

const DECIMAL = /^-?\d{1,15}(?:\.\d{1,4})?$/;

function decimalOf(value: number, path: string): CedarValueJson {
  if (!Number.isFinite(value)) throw new ArgumentConversionError(path, 'is not a finite number');
  const text = String(value);
  if (!DECIMAL.test(text)) throw new ArgumentConversionError(path, `${text} cannot be a Cedar decimal (at most 4 digits after the point, below 922337203685477)`);
  return { __extn: { fn: 'decimal', arg: text.includes('.') ? text : `${text}.0` } };
}

/** An argument value as Cedar JSON of its declared type (undeclared attributes are left out). */
export function toCedarValue(value: unknown, type: ArgumentType, path: string): CedarValueJson {
  switch (type.kind) {
    case 'String':
      if (typeof value !== 'string') throw new ArgumentConversionError(path, 'is not a string');
      return value;
    case 'Long':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ArgumentConversionError(path, 'is not an integer');
      return value;
    case 'Decimal':
      if (typeof value !== 'number') throw new ArgumentConversionError(path, 'is not a number');
      return decimalOf(value, path);
    case 'Boolean':
      if (typeof value !== 'boolean') throw new ArgumentConversionError(path, 'is not true or false');
      return value;
    case 'Set':
      if (!Array.isArray(value)) throw new ArgumentConversionError(path, 'is not an array');
      return value.map((item, index) => toCedarValue(item, type.element, `${path}[${index}]`));
    case 'Record': {
      if (!isObject(value)) throw new ArgumentConversionError(path, 'is not an object');
      const record: Record<string, CedarValueJson> = {};
      for (const [name, attribute] of type.attributes) {
        const item = Object.hasOwn(value, name) ? value[name] : undefined;
        if (item === undefined || item === null) {
          if (attribute.required) throw new ArgumentConversionError(path ? `${path}.${name}` : name, 'is missing');
          continue;
        }
        record[name] = toCedarValue(item, attribute.type, path ? `${path}.${name}` : name);
      }
      return record;
    }
  }
}
