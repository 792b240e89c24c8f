import type { AuthRequest } from '../ports/authenticator.js';

/** Why a request's credential cannot be read as sent: each is answered with `invalid_request` (RFC 6750 §3.1). */
export type MalformedCredential =
  /** An `Authorization` header that is not `Bearer <credential>`. */
  | 'authorization-scheme'
  /** An `X-API-Key` header with nothing in it (and no `Authorization` header). */
  | 'empty-api-key';

/** A credential as the caller sent it, and which header carried it. */
export interface PresentedCredential {
  /** The token or key; `''` when it cannot be read as sent (see `malformed`). */
  readonly credential: string;
  readonly header: 'authorization' | 'x-api-key';
  /** Set (and `credential` is `''`) when the credential cannot be read as sent. */
  readonly malformed?: MalformedCredential;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * The one way every authenticator reads a request's credential: `Authorization: Bearer <credential>`
 * first, else `X-API-Key: <key>`. Undefined when neither header is sent. A credential that cannot be
 * read as sent yields `''` with the reason in `malformed` (answer it with `invalid_request`): an
 * `Authorization` header of any other shape (never a fallback to `X-API-Key`), or an empty
 * `X-API-Key`. With an `Authorization` header, `X-API-Key` is not read at all: API gateways in
 * front of the engine (AWS API Gateway, Kong) take their own key in that header and pass it on.
 */
export function presentedCredential(request: Pick<AuthRequest, 'header'>): PresentedCredential | undefined {
  const authorization = request.header('authorization');
  if (authorization !== undefined) {
    const bearer = BEARER.exec(authorization)?.[1];
    return bearer === undefined ? { credential: '', header: 'authorization', malformed: 'authorization-scheme' } : { credential: bearer, header: 'authorization' };
  }
  const key = request.header('x-api-key');
  if (key === undefined) return undefined;
  const trimmed = key.trim();
  return trimmed ? { credential: trimmed, header: 'x-api-key' } : { credential: '', header: 'x-api-key', malformed: 'empty-api-key' };
}
