import type { AuthRequest } from '../ports/authenticator.js';

/** A credential as the caller sent it, and which header carried it. */
export interface PresentedCredential {
  /** The token or key; `''` when an `Authorization` header is there but is not `Bearer <credential>`. */
  readonly credential: string;
  readonly header: 'authorization' | 'x-api-key';
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * The one way every authenticator reads a request's credential: `Authorization: Bearer <credential>`
 * first, else `X-API-Key: <key>`. Undefined when neither is sent; an `Authorization` header of any
 * other shape yields `''` (answer it with `invalid_request`), never a fallback to `X-API-Key`.
 */
export function presentedCredential(request: Pick<AuthRequest, 'header'>): PresentedCredential | undefined {
  const authorization = request.header('authorization');
  if (authorization !== undefined) return { credential: BEARER.exec(authorization)?.[1] ?? '', header: 'authorization' };
  const key = request.header('x-api-key')?.trim();
  return key ? { credential: key, header: 'x-api-key' } : undefined;
}
