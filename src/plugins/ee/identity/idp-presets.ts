import { isLoopbackHttp, neverReached } from '../outbound-fetch.js';
import { IdentityInputError } from './identity-errors.js';
import { directoryIdProblem, issuerProblem, realmUrlProblem } from './preset-hints.js';

/** The IdP kinds with presets. */
export const IDP_KINDS = ['entra', 'google', 'keycloak', 'custom'] as const;
export type IdpKind = (typeof IDP_KINDS)[number];

/** Signature algorithms a provider may allow. Never `none`, never HMAC (a public key is no secret). */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/** What an admin enters for a provider; preset inputs depend on `kind`. */
export interface IdpPresetInput {
  readonly kind: IdpKind;
  /** entra: the directory (tenant) id, a GUID. Never `common`, `organizations` or `consumers`. */
  readonly directoryId?: string;
  /** entra: which token version the API is configured for (`accessTokenAcceptedVersion`). Default v2. */
  readonly tokenVersion?: 'v1' | 'v2';
  /** keycloak: the realm URL, e.g. `https://sso.example.com/realms/acme` (it is the issuer). */
  readonly realmUrl?: string;
  /** custom: the issuer exactly as in the tokens' `iss`. */
  readonly issuer?: string;
  /** Fetch keys here instead of the URL found by discovery. */
  readonly jwksUri?: string;
  /** Override the claim that names the agent. */
  readonly subjectClaim?: string;
  /** Override the algorithm allow-list. */
  readonly allowedAlgorithms?: readonly string[];
}

/** A preset resolved to provider columns. */
export interface ResolvedPreset {
  readonly kind: IdpKind;
  readonly issuer: string;
  readonly jwksUri: string | undefined;
  readonly discoveryUrl: string | undefined;
  readonly subjectClaim: string;
  readonly allowedAlgorithms: readonly string[];
  /** The preset inputs, stored so the provider can be edited later. */
  readonly settings: Readonly<Record<string, string>>;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CLAIM = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

/**
 * An IdP URL: https, or http on a loopback host only (local development and tests). Returns it
 * without a fragment.
 */
export function checkIdpUrl(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new IdentityInputError(field, `${field} is required.`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new IdentityInputError(field, `${field} "${value}" is not a URL.`);
  }
  if (url.username || url.password) throw new IdentityInputError(field, `${field} must not contain credentials.`);
  if (url.hash) throw new IdentityInputError(field, `${field} must not contain a fragment.`);
  if (url.protocol !== 'https:' && !isLoopbackHttp(url)) {
    throw new IdentityInputError(field, `${field} must use https (http is accepted only on a loopback host).`);
  }
  const refused = neverReached(url);
  if (refused) throw new IdentityInputError(field, `${field} must not name ${refused}.`);
  return value.trim();
}

export function checkSubjectClaim(value: unknown): string {
  if (typeof value !== 'string' || !CLAIM.test(value)) {
    throw new IdentityInputError('subjectClaim', 'subjectClaim must be a claim name such as sub, azp, client_id, appid or oid.');
  }
  return value;
}

export function checkAlgorithms(value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.length === 0) throw new IdentityInputError('allowedAlgorithms', 'allowedAlgorithms must list at least one algorithm.');
  for (const alg of value) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(alg)) {
      throw new IdentityInputError('allowedAlgorithms', `Algorithm "${String(alg)}" is not allowed; use asymmetric algorithms only (${ASYMMETRIC_ALGORITHMS.join(', ')}).`);
    }
  }
  return [...new Set(value as string[])];
}

function entra(input: IdpPresetInput): ResolvedPreset {
  const id = typeof input.directoryId === 'string' ? input.directoryId.trim() : '';
  const problem = directoryIdProblem(id);
  if (problem || !GUID.test(id)) throw new IdentityInputError('directoryId', problem ?? 'Enter the directory (tenant) ID, a GUID.');
  const tid = id.toLowerCase();
  const version = input.tokenVersion ?? 'v2';
  if (version !== 'v1' && version !== 'v2') throw new IdentityInputError('tokenVersion', 'tokenVersion must be "v1" or "v2".');
  return {
    kind: 'entra',
    issuer: version === 'v2' ? `https://login.microsoftonline.com/${tid}/v2.0` : `https://sts.windows.net/${tid}/`,
    // Both token versions are signed with the directory's keys, published here.
    jwksUri: input.jwksUri ? checkIdpUrl(input.jwksUri, 'jwksUri') : `https://login.microsoftonline.com/${tid}/discovery/v2.0/keys`,
    discoveryUrl: undefined,
    subjectClaim: checkSubjectClaim(input.subjectClaim ?? (version === 'v2' ? 'azp' : 'appid')),
    allowedAlgorithms: checkAlgorithms(input.allowedAlgorithms ?? ['RS256']),
    settings: { directoryId: tid, tokenVersion: version },
  };
}

function google(input: IdpPresetInput): ResolvedPreset {
  return {
    kind: 'google',
    issuer: 'https://accounts.google.com',
    jwksUri: input.jwksUri ? checkIdpUrl(input.jwksUri, 'jwksUri') : 'https://www.googleapis.com/oauth2/v3/certs',
    discoveryUrl: undefined,
    subjectClaim: checkSubjectClaim(input.subjectClaim ?? 'sub'),
    allowedAlgorithms: checkAlgorithms(input.allowedAlgorithms ?? ['RS256']),
    settings: {},
  };
}

function keycloak(input: IdpPresetInput): ResolvedPreset {
  const realmUrl = checkIdpUrl(input.realmUrl, 'realmUrl').replace(/\/+$/, '');
  const problem = realmUrlProblem(realmUrl);
  if (problem || !/\/realms\/[^/]+$/.test(new URL(realmUrl).pathname)) {
    throw new IdentityInputError('realmUrl', problem ?? 'Enter the realm URL, e.g. https://sso.example.com/realms/acme.');
  }
  return {
    kind: 'keycloak',
    issuer: realmUrl,
    jwksUri: input.jwksUri ? checkIdpUrl(input.jwksUri, 'jwksUri') : undefined,
    discoveryUrl: `${realmUrl}/.well-known/openid-configuration`,
    subjectClaim: checkSubjectClaim(input.subjectClaim ?? 'azp'),
    allowedAlgorithms: checkAlgorithms(input.allowedAlgorithms ?? ['RS256', 'PS256', 'ES256']),
    settings: { realmUrl },
  };
}

function custom(input: IdpPresetInput): ResolvedPreset {
  const issuer = checkIdpUrl(input.issuer, 'issuer');
  const problem = issuerProblem(issuer);
  if (problem) throw new IdentityInputError('issuer', problem);
  return {
    kind: 'custom',
    issuer,
    jwksUri: input.jwksUri ? checkIdpUrl(input.jwksUri, 'jwksUri') : undefined,
    discoveryUrl: undefined,
    subjectClaim: checkSubjectClaim(input.subjectClaim ?? 'sub'),
    allowedAlgorithms: checkAlgorithms(input.allowedAlgorithms ?? ['RS256', 'PS256', 'ES256']),
    settings: {},
  };
}

/** Turn preset inputs into provider columns, refusing anything that would trust too much. */
export function resolvePreset(input: IdpPresetInput): ResolvedPreset {
  switch (input.kind) {
    case 'entra':
      return entra(input);
    case 'google':
      return google(input);
    case 'keycloak':
      return keycloak(input);
    case 'custom':
      return custom(input);
    default:
      throw new IdentityInputError('kind', `kind must be one of ${IDP_KINDS.join(', ')}.`);
  }
}

/** A field error of preset inputs. */
export interface PresetProblem {
  readonly field: string;
  readonly message: string;
}

function problemOf(check: () => unknown): PresetProblem[] {
  try {
    check();
    return [];
  } catch (error) {
    if (error instanceof IdentityInputError) return [{ field: error.field, message: error.message }];
    throw error;
  }
}

/**
 * Every problem of the preset inputs at once (resolvePreset stops at the first). With `partial`
 * (a change), only the inputs present are checked.
 */
export function presetProblems(input: Partial<Record<keyof IdpPresetInput, unknown>>, partial = false): PresetProblem[] {
  const kind = input.kind as IdpKind;
  if (!(IDP_KINDS as readonly unknown[]).includes(kind)) return [];
  const main = { entra: 'directoryId', keycloak: 'realmUrl', custom: 'issuer', google: undefined }[kind] as keyof IdpPresetInput | undefined;
  const problems: PresetProblem[] = [];
  if (main && (!partial || input[main] !== undefined)) {
    const only = { kind, [main]: input[main], tokenVersion: input.tokenVersion === undefined ? undefined : input.tokenVersion } as unknown as IdpPresetInput;
    problems.push(...problemOf(() => resolvePreset({ ...only, jwksUri: undefined, subjectClaim: undefined, allowedAlgorithms: undefined } as IdpPresetInput)));
  }
  if (input.jwksUri !== undefined && input.jwksUri !== '') problems.push(...problemOf(() => checkIdpUrl(input.jwksUri, 'jwksUri')));
  if (input.subjectClaim !== undefined) problems.push(...problemOf(() => checkSubjectClaim(input.subjectClaim)));
  if (input.allowedAlgorithms !== undefined) problems.push(...problemOf(() => checkAlgorithms(input.allowedAlgorithms)));
  return problems.filter((problem, index) => problems.findIndex((other) => other.field === problem.field) === index);
}
