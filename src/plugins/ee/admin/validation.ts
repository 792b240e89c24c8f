import { plainToInstance } from 'class-transformer';
import { ValidateBy, ValidateIf, getMetadataStorage, isISO8601, validate, type ValidationError } from 'class-validator';
import { HttpError, isUuid } from '../../../core/index.js';
import { fieldLabel, humanMessage } from './field-messages.js';

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/**
 * The checks that say what JSON type a field takes, the outermost first. A value of the wrong type
 * is reported by its type check alone: that a number is "too long" or "not a permission pattern"
 * says nothing more, and a missing field is simply missing.
 */
const TYPE_CHECKS = ['isArray', 'isObject', 'isString', 'isInt', 'isNumber', 'isBoolean'] as const;

/**
 * The checks of a value's size. A value of the right type but the wrong size is reported by its
 * size alone: that a 3,000-character URL "must be an http or https URL" (the URL check refuses
 * anything that long) or that an empty name "must not start with spaces" says nothing more.
 */
const SIZE_CHECKS = ['isLength', 'minLength', 'maxLength', 'arrayMinSize', 'arrayMaxSize'] as const;

/**
 * The one message of a field that failed: its type check, else its size check, else its first
 * other check. Each field is reported once, as a form shows one message under each field.
 */
function fieldMessage(constraints: Readonly<Record<string, string>>): string | undefined {
  const check = TYPE_CHECKS.find((name) => constraints[name] !== undefined) ?? SIZE_CHECKS.find((name) => constraints[name] !== undefined);
  return check ? constraints[check] : Object.values(constraints)[0];
}

function flatten(errors: readonly ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const message = fieldMessage(error.constraints ?? {});
    if (message !== undefined) out.push({ field, message: humanMessage(field, message, error.value) });
    if (error.children?.length) out.push(...flatten(error.children, field));
  }
  return out;
}

/** 400 with field errors whose messages are already worded for people (each field and message once). */
function refusal(fieldErrors: readonly FieldError[]): HttpError {
  const seen = new Set<string>();
  const details = fieldErrors.filter((d) => !seen.has(`${d.field}\n${d.message}`) && seen.add(`${d.field}\n${d.message}`));
  return new HttpError(400, 'validation_failed', `Invalid request: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, { details });
}

/** 400 with field errors, each worded for the person who fills in the form. */
export function invalid(fieldErrors: FieldError[]): HttpError {
  return refusal(fieldErrors.map((d) => ({ field: d.field, message: humanMessage(d.field, d.message) })));
}

/** Field errors already worded for people (such as those of {@link validated}), merged with others to word. */
export function invalidWith(worded: readonly FieldError[], others: readonly FieldError[]): HttpError {
  return refusal([...worded, ...others.map((d) => ({ field: d.field, message: humanMessage(d.field, d.message) }))]);
}

/** Longest string any admin API field accepts, whatever the field (fields may set a lower bound). */
export const MAX_TEXT_LENGTH = 10_000;
const MAX_DEPTH = 16;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Input that no field can store or that could reach object internals, found anywhere in a parsed
 * body or query: `__proto__`/`constructor`/`prototype` keys, NUL characters, lone UTF-16
 * surrogates, over-long strings, numbers outside the safe integer range and over-deep nesting.
 */
export function hostileInputProblems(value: unknown, field = '', depth = 0): FieldError[] {
  const at = (key: string | number): string => (field ? `${field}.${key}` : String(key));
  const name = field || 'body';
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return [{ field: name, message: `${name} must not contain NUL characters` }];
    if (LONE_SURROGATE.test(value)) return [{ field: name, message: `${name} must be valid Unicode text (it contains a lone surrogate)` }];
    if (value.length > MAX_TEXT_LENGTH) return [{ field: name, message: `${name} must be at most ${MAX_TEXT_LENGTH} characters long` }];
    return [];
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) return [{ field: name, message: `${name} is out of range` }];
    return [];
  }
  if (typeof value !== 'object' || value === null) return [];
  if (depth >= MAX_DEPTH) return [{ field: name, message: `${name} is nested too deeply` }];
  const problems: FieldError[] = [];
  if (Array.isArray(value)) {
    value.forEach((item, index) => problems.push(...hostileInputProblems(item, at(index), depth + 1)));
    return problems;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) {
      problems.push({ field: at(key), message: `"${key}" is not an allowed field name` });
      continue;
    }
    const keyProblems = hostileInputProblems(key, at(key), depth + 1);
    if (keyProblems.length) {
      problems.push({ field: field || 'body', message: `a field name is not valid text: ${keyProblems[0]!.message}` });
      continue;
    }
    problems.push(...hostileInputProblems((value as Record<string, unknown>)[key], at(key), depth + 1));
  }
  return problems;
}

// PostgreSQL's timestamptz covers far more, but ISO 8601 without an expanded year stops at 9999
// and JavaScript dates at ±275760: accept years 1 to 9999 only.
const MIN_TIME = new Date('0001-01-01T00:00:00.000Z').getTime();
const MAX_TIME = new Date('9999-12-31T23:59:59.999Z').getTime();

/**
 * An ISO 8601 date-time whose calendar date exists (not 2026-02-31), in any year from 0001 to
 * 9999. `IsISO8601({ strict: true })` refuses the years 0001 to 0099: it checks the date with
 * `new Date("1-01-01")`, which JavaScript reads as 2001.
 */
export function IsDateTime(message: string): PropertyDecorator {
  return ValidateBy({ name: 'isDateTime', validator: { validate: (value: unknown) => typeof value === 'string' && isISO8601(value) && calendarDateExists(value), defaultMessage: () => message } });
}

function calendarDateExists(value: string): boolean {
  const match = /^(\d{4})-?(\d{2})-?(\d{2})/.exec(value);
  // Ordinal and week dates: the ISO 8601 check has read their form; the date is checked when parsed.
  if (!match) return true;
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** A date-time field's value as a Date, or a field error when it is not representable. */
export function representableDate(value: string, field: string): Date {
  const date = new Date(value);
  const time = date.getTime();
  if (Number.isNaN(time) || time < MIN_TIME || time > MAX_TIME) {
    throw invalid([{ field, message: `${field} must be a date-time between the years 0001 and 9999` }]);
  }
  return date;
}

const nullableFields = new WeakMap<object, Set<string>>();

/**
 * A field whose JSON `null` is a value: it clears the field ("no identity provider"). Every other
 * field of an admin body refuses `null` with a field error; leaving the field out keeps (or
 * defaults) its value.
 */
export function Nullable(): PropertyDecorator {
  const unlessNull = ValidateIf((_object, value) => value !== null);
  return (target, property) => {
    const fields = nullableFields.get(target.constructor) ?? new Set<string>();
    fields.add(String(property));
    nullableFields.set(target.constructor, fields);
    unlessNull(target, property);
  };
}

function isNullable(dto: object, field: string): boolean {
  for (let type: object | null = dto; type && type !== Function.prototype; type = Object.getPrototypeOf(type) as object | null) {
    if (nullableFields.get(type)?.has(field)) return true;
  }
  return false;
}

/**
 * `null` in a field that does not take it. class-validator's `IsOptional` lets `null` through as if
 * the field were absent, and the stores would then store it, clear the field or fail: each such
 * field is refused here, with its name.
 */
function nullProblems(dto: new () => object, plain: Record<string, unknown>): FieldError[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
  const declared = new Set(metadata.map((entry) => entry.propertyName));
  const optional = new Set(metadata.filter((entry) => entry.name === 'isOptional').map((entry) => entry.propertyName));
  return Object.keys(plain)
    .filter((field) => plain[field] === null && declared.has(field) && !isNullable(dto, field))
    .map((field) => ({
      field,
      message: optional.has(field) ? `${fieldLabel(field)} must not be null: leave the field out instead.` : `${fieldLabel(field)} is required and must not be null.`,
    }));
}

/** Validate a plain value as an instance of `dto`; unknown fields are errors. */
export async function validated<T extends object>(dto: new () => T, plain: unknown, what = 'The request body'): Promise<T> {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    throw new HttpError(400, 'validation_failed', `${what} must be a JSON object.`, { details: [{ field: '', message: `${what} must be a JSON object.` }] });
  }
  const problems = hostileInputProblems(plain);
  if (problems.length) throw invalid(problems);
  const nulls = nullProblems(dto, plain as Record<string, unknown>);
  const instance = plainToInstance(dto, plain);
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  const found = [...nulls, ...flatten(errors).filter((error) => !nulls.some((problem) => problem.field === error.field))];
  if (found.length) throw refusal(found);
  normaliseIds(dto, instance);
  return instance;
}

/**
 * An id as the admin API stores, compares and shows it. Ids are UUIDs, whose hex digits may be
 * written in either case: the same id in any case addresses the same object. Stores and routes
 * compare ids exactly, so every id is brought to lower case where admin input enters (path ids by
 * {@link pathId}, body and query ids by {@link validated}) and nowhere else.
 */
export function normalId(id: string): string {
  return id.toLowerCase();
}

/** Each field checked as a UUID (one id, or a list of them with `each`), in its stored form. */
function normaliseIds(dto: new () => object, instance: object): void {
  const fields = instance as Record<string, unknown>;
  for (const entry of getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false)) {
    if (entry.name !== 'isUuid') continue;
    const value = fields[entry.propertyName];
    if (typeof value === 'string') fields[entry.propertyName] = normalId(value);
    else if (Array.isArray(value)) fields[entry.propertyName] = value.map((item: unknown) => (typeof item === 'string' ? normalId(item) : item));
  }
}

/** The query string as an object (see {@link queryProblems}: by then no parameter is repeated). */
export function queryObject(query: URLSearchParams): Record<string, string> {
  return Object.fromEntries(query.entries());
}

/** The fields a DTO declares: the query parameters of a route whose query it validates. */
export function fieldsOf(dto: new () => object): string[] {
  return [...new Set(getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false).map((entry) => entry.propertyName))];
}

/**
 * Query parameters a route does not take, and parameters given more than once: a filter the
 * caller believes applied, or two values of which one would silently win, are refused (400 on the
 * parameter) rather than ignored.
 */
export function queryProblems(query: URLSearchParams, accepted: readonly string[]): FieldError[] {
  const counts = new Map<string, number>();
  for (const name of query.keys()) counts.set(name, (counts.get(name) ?? 0) + 1);
  const takes = accepted.length ? `it takes ${accepted.join(', ')}` : 'it takes none';
  const problems: FieldError[] = [];
  for (const [name, count] of counts) {
    if (!accepted.includes(name)) problems.push({ field: name, message: `"${name}" is not a query parameter of this endpoint (${takes}).` });
    else if (count > 1) problems.push({ field: name, message: `"${name}" is given ${count} times: give it at most once.` });
  }
  return problems;
}

/** 404 for ids that are not the tenant's, whether they exist elsewhere or not at all. */
export function notFound(what: string): HttpError {
  return new HttpError(404, 'not_found', `No such ${what}.`);
}

/**
 * The id of the object a request addresses (in its path, or a query parameter naming one object),
 * in its stored form. It must be a UUID; anything else is simply not found.
 */
export function pathId(value: string | null | undefined, what: string): string {
  if (!value || !isUuid(value)) throw notFound(what);
  return normalId(value);
}
