import { createRequire } from 'node:module';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { ApiOperation } from './api-operation.js';
import { clipClientText } from '../../../core/index.js';

interface Validators {
  readonly Ajv2020: typeof Ajv2020;
  readonly addFormats: (ajv: Ajv2020) => Ajv2020;
}

let validators: Validators | undefined;

/** ajv and its formats, loaded when the first schema is checked: an engine without an API registry never needs them. */
function loadValidators(): Validators {
  if (!validators) {
    const require = createRequire(import.meta.url);
    const { Ajv2020: ajv } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
    const formats = require('ajv-formats') as { default?: unknown };
    validators = { Ajv2020: ajv, addFormats: (formats.default ?? formats) as Validators['addFormats'] };
  }
  return validators;
}

/** OpenAPI's own formats, beyond JSON Schema's. */
const OPENAPI_FORMATS: Record<string, true | RegExp | ((value: number) => boolean)> = {
  int32: (value) => Number.isInteger(value) && value >= -2147483648 && value <= 2147483647,
  int64: (value) => Number.isSafeInteger(value),
  float: () => true,
  double: () => true,
  byte: /^[A-Za-z0-9+/]*={0,2}$/,
  binary: true,
  password: true,
};

function newAjv(coerceTypes: false | 'array' = false): Ajv2020 {
  const { Ajv2020, addFormats } = loadValidators();
  const ajv = new Ajv2020({ strict: false, allErrors: true, coerceTypes, validateFormats: true });
  addFormats(ajv);
  for (const [name, format] of Object.entries(OPENAPI_FORMATS)) {
    ajv.addFormat(name, typeof format === 'function' ? { type: 'number', validate: format } : format);
  }
  return ajv;
}

let metaAjv: Ajv2020 | undefined;

/** Why `schema` is not a valid JSON Schema (2020-12), or undefined when it is. */
export function schemaProblem(schema: unknown): { at: string; message: string } | undefined {
  metaAjv ??= newAjv();
  if (metaAjv.validateSchema(schema as object) as boolean) return undefined;
  const error = metaAjv.errors?.[0];
  return { at: error?.instancePath ?? '', message: error?.message ?? 'not a valid JSON Schema' };
}

function describeError(error: ErrorObject): string {
  // The path is made of the caller's keys: quoted clipped, like any client text.
  const where = clipClientText(error.instancePath.split('/').slice(1).map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~')).join('.'));
  if (error.keyword === 'required') {
    const property = (error.params as { missingProperty: string }).missingProperty;
    return `missing required ${where ? `${where}.` : ''}${property}`;
  }
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'enum') message += `: ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (error.keyword === 'additionalProperties') message = `has no property "${clipClientText((error.params as { additionalProperty: string }).additionalProperty)}"`;
  return where ? `${where} ${message}` : message;
}

const PARAMETER_GROUPS = ['path', 'query', 'headers', 'cookies'];

function part(schema: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  const required = ((schema.required ?? []) as string[]).filter((k) => keys.includes(k));
  return {
    ...schema,
    properties: Object.fromEntries(Object.entries(properties).filter(([k]) => keys.includes(k))),
    required,
  };
}

function describeAll(validate: ValidateFunction): string[] {
  const errors = validate.errors ?? [];
  // `anyOf`/`oneOf` report every branch; the specific errors say more.
  const specific = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if');
  return (specific.length ? specific : errors).map(describeError);
}

/**
 * Validates call arguments (`{ path, query, headers, cookies, body }`) against each operation's
 * schema. Parameters are coerced the way an HTTP API reads them (`"42"` for an integer, one value
 * for an array); bodies are checked strictly. Validators are compiled on first use: a registry of
 * hundreds of operations boots fast and only pays for the operations actually called.
 */
export class ArgumentValidator {
  private readonly coercing = newAjv('array');
  private readonly strict = newAjv();
  private readonly compiled = new Map<string, { parameters: ValidateFunction; body: ValidateFunction }>();

  /** Problems with `args` (empty when valid). Coerces parameter values in place. */
  check(operation: ApiOperation, args: Record<string, unknown>): string[] {
    let validators = this.compiled.get(operation.id);
    if (!validators) {
      validators = {
        parameters: this.coercing.compile(part(operation.inputSchema, PARAMETER_GROUPS)),
        body: this.strict.compile(part(operation.inputSchema, ['body'])),
      };
      this.compiled.set(operation.id, validators);
    }
    const body = 'body' in args ? { body: args.body } : {};
    const parameters = Object.fromEntries(Object.entries(args).filter(([k]) => k !== 'body'));
    const problems: string[] = [];
    if (!validators.parameters(parameters)) problems.push(...describeAll(validators.parameters));
    if (!validators.body(body)) problems.push(...describeAll(validators.body));
    Object.assign(args, parameters);
    return [...new Set(problems)].slice(0, 8);
  }
}
