import { GatehouseError } from '../../../core/index.js';

/** Escape one JSON pointer token (RFC 6901). */
export function pointerToken(token: string | number): string {
  return String(token).replaceAll('~', '~0').replaceAll('/', '~1');
}

/** `#/a/b` from `['a', 'b']`. */
export function pointerOf(tokens: readonly (string | number)[]): string {
  return tokens.length ? `#/${tokens.map(pointerToken).join('/')}` : '#';
}

/**
 * An OpenAPI document or its overrides cannot be used. Raised while the engine boots; names the
 * document and the JSON pointer of the problem.
 */
export class InvalidApiDocumentError extends GatehouseError {
  constructor(
    readonly document: string,
    readonly pointer: string,
    readonly problem: string,
  ) {
    super('invalid_api_document', `Invalid API document ${document} at ${pointer}: ${problem}`);
  }
}
