import Negotiator from 'negotiator';
import { parse } from 'content-type';

/**
 * Whether a `Content-Type` header names JSON (`application/json` or `application/*+json`, any
 * parameters). A header that does not parse is not JSON.
 */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  let type: string;
  try {
    type = parse(value).type.toLowerCase();
  } catch {
    return false;
  }
  return type === 'application/json' || /^application\/[^/+]+\+json$/.test(type);
}

/** Whether an `Accept` header admits `type` (q-values honoured; no header admits everything). */
export function accepts(accept: string | undefined, type: string): boolean {
  if (accept === undefined) return true;
  return new Negotiator({ headers: { accept } }).mediaTypes([type]).length > 0;
}

/** Whether an `Accept` header names `type` itself with a non-zero q (a wildcard is not enough). */
export function explicitlyAccepts(accept: string | undefined, type: string): boolean {
  if (accept === undefined) return false;
  return new Negotiator({ headers: { accept } }).mediaTypes().some((listed) => listed.toLowerCase() === type);
}

/** Whether an `Accept-Encoding` header admits gzip (listed, or `*`, with a non-zero q). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return new Negotiator({ headers: { 'accept-encoding': header } }).encodings(['gzip']).includes('gzip');
}
