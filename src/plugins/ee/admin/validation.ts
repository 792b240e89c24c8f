import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import { HttpError, isUuid } from '../../../core/index.js';
import { humanMessage } from './field-messages.js';

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

function flatten(errors: readonly ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) out.push({ field, message: humanMessage(field, message, error.value) });
    if (error.children?.length) out.push(...flatten(error.children, field));
  }
  return out;
}

/** 400 with field errors, each worded for the person who fills in the form. */
export function invalid(fieldErrors: FieldError[]): HttpError {
  const seen = new Set<string>();
  const details = fieldErrors
    .map((d) => ({ field: d.field, message: humanMessage(d.field, d.message) }))
    .filter((d) => !seen.has(`${d.field}\n${d.message}`) && seen.add(`${d.field}\n${d.message}`));
  return new HttpError(400, 'validation_failed', `Invalid request: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, { details });
}

/** Validate a plain value as an instance of `dto`; unknown fields are errors. */
export async function validated<T extends object>(dto: new () => T, plain: unknown, what = 'The request body'): Promise<T> {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    throw new HttpError(400, 'validation_failed', `${what} must be a JSON object.`, { details: [{ field: '', message: `${what} must be a JSON object.` }] });
  }
  const instance = plainToInstance(dto, plain);
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length) throw invalid(flatten(errors));
  return instance;
}

/** The query string as an object (the last value of a repeated parameter wins). */
export function queryObject(query: URLSearchParams): Record<string, string> {
  return Object.fromEntries(query.entries());
}

/** 404 for ids that are not the tenant's, whether they exist elsewhere or not at all. */
export function notFound(what: string): HttpError {
  return new HttpError(404, 'not_found', `No such ${what}.`);
}

/** A path id that must be a UUID; anything else is simply not found. */
export function pathId(value: string | undefined, what: string): string {
  if (!value || !isUuid(value)) throw notFound(what);
  return value.toLowerCase();
}
