import { inject, injectable } from 'inversify';
import { ApiKeyVerifier, presentedCredential, type ApiKeyCheck, type AuthRequest, type AuthResult, type Authenticator, type MalformedCredential } from '../../core/index.js';

/** The credential of a request: `Authorization: Bearer <key>` or `X-API-Key: <key>` (see `presentedCredential`). */
export function presentedKey(request: Pick<AuthRequest, 'header'>): string | undefined {
  return presentedCredential(request)?.credential;
}

/**
 * Appended to every refusal: clients that know only OAuth (mcp-remote, the MCP Inspector) show the
 * `error_description`, so it says what this server takes and how to send it.
 */
export const API_KEY_HINT =
  'This server takes API keys, not OAuth: send "Authorization: Bearer <key>" or "X-API-Key: <key>" (the operator creates keys with "gatehouse keys create").';

/** What is wrong with a credential that cannot be read as sent (answered with `invalid_request`). */
const MALFORMED: Readonly<Record<MalformedCredential, string>> = {
  'authorization-scheme': `The Authorization header must be "Bearer <key>". ${API_KEY_HINT}`,
  'empty-api-key': `The X-API-Key header is empty. ${API_KEY_HINT}`,
};

const KEY_FAILURES = {
  expired: `The API key has expired. ${API_KEY_HINT}`,
  revoked: `The API key has been revoked. ${API_KEY_HINT}`,
} as const;

/** Community Edition authentication: tenant-bound API keys. */
@injectable()
export class ApiKeyAuthenticator implements Authenticator {
  constructor(@inject(ApiKeyVerifier) private readonly keys: ApiKeyVerifier) {}

  /** A cached key is answered at once, without a promise. */
  authenticate(request: AuthRequest): AuthResult | Promise<AuthResult> {
    const given = presentedCredential(request);
    if (given === undefined) {
      return { ok: false, description: `An API key is required. ${API_KEY_HINT}`, challenge: { error_description: `An API key is required. ${API_KEY_HINT}` } };
    }
    if (given.malformed) return { ok: false, error: 'invalid_request', description: MALFORMED[given.malformed] };
    const check = this.keys.checkNow(given.credential);
    return check instanceof Promise ? check.then(keyResult) : keyResult(check);
  }

  challenge(): Record<string, string> {
    return {};
  }
}

/** What a key's check means for a Community Edition MCP request. */
function keyResult(check: ApiKeyCheck): AuthResult {
  switch (check.status) {
    case 'valid':
      // Keys made for other purposes (an agent's key, an admin-only key) are not CE MCP keys.
      if (!check.key.scopes.includes('mcp')) {
        return { ok: false, error: 'invalid_token', description: `This API key is not valid for MCP access. ${API_KEY_HINT}`, tenant: check.key.tenant };
      }
      return {
        ok: true,
        principal: {
          tenant: check.key.tenant,
          kind: 'api-key',
          id: check.key.id,
          label: check.key.name,
          scopes: check.key.scopes,
          attributes: { keyPrefix: check.key.prefix },
        },
      };
    case 'expired':
    case 'revoked':
      return { ok: false, error: 'invalid_token', description: KEY_FAILURES[check.status], tenant: check.key.tenant };
    default:
      return { ok: false, error: 'invalid_token', description: `The API key is not valid. ${API_KEY_HINT}` };
  }
}
