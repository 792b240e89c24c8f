/** The admin API as the page uses it: JSON in and out, the session cookie, and the CSRF token on changes. */

export interface FieldError {
  readonly field: string;
  readonly message: string;
  /** Where in a text field the problem is (1-based), when the server says. */
  readonly line?: number;
  readonly column?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: readonly FieldError[] = [],
  ) {
    super(message);
  }

  /** Field errors by field name (the first message of each). */
  fields(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const detail of this.details) if (detail.field && !(detail.field in out)) out[detail.field] = detail.message;
    return out;
  }
}

export const basePath = document.getElementById('app')?.dataset.base ?? '';

/** The nonce this page's CSP admits `<style>` elements with (the shell puts it on the stylesheet link). */
export function styleNonce(): string | undefined {
  return document.querySelector<HTMLLinkElement>('link[rel="stylesheet"]')?.nonce || undefined;
}

let csrfToken: string | undefined;
let onSignedOut: (() => void) | undefined;

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

export function whenSignedOut(callback: () => void): void {
  onSignedOut = callback;
}

export interface SessionInfo {
  readonly tenant: string;
  readonly admin: string;
  readonly csrfToken: string;
  readonly expiresAt: string;
  /** The tenant's MCP URL. */
  readonly mcpUrl: string;
}

let signedInSession: SessionInfo | undefined;

/** The session of the signed-in admin (the pages read the tenant's MCP URL from it). */
export function currentSession(): SessionInfo | undefined {
  return signedInSession;
}

export function setSession(session: SessionInfo | undefined): void {
  signedInSession = session;
}

function errorOf(status: number, body: unknown): ApiError {
  const data = body as { error?: unknown; error_description?: unknown } | null;
  if (data && typeof data.error === 'object' && data.error !== null) {
    const error = data.error as { code?: string; message?: string; details?: FieldError[] };
    return new ApiError(status, error.code ?? 'error', error.message ?? `Request failed (${status}).`, Array.isArray(error.details) ? error.details : []);
  }
  if (data && typeof data.error === 'string') return new ApiError(status, data.error, String(data.error_description ?? data.error));
  return new ApiError(status, 'error', `Request failed (${status}).`);
}

/** The `data` of an admin API response. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await apiResponse<{ data: T }>(method, path, body)).data;
}

/** A whole admin API response body (for lists that return a cursor beside `data`). */
export async function apiResponse<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(`${basePath}${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = errorOf(response.status, parsed);
    if (response.status === 401 && !path.startsWith('/admin/session')) onSignedOut?.();
    throw error;
  }
  return parsed as T;
}

/** Query string of the non-empty values. */
export function query(values: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) params.set(key, value);
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface Idp {
  id: string;
  name: string;
  kind: 'entra' | 'google' | 'keycloak' | 'custom';
  issuer: string;
  discoveryUrl: string | null;
  jwksUri: string | null;
  audience: string | null;
  subjectClaim: string;
  allowedAlgorithms: string[];
  clockSkewSeconds: number;
  tokenType: 'any' | 'at+jwt';
  settings: Record<string, string>;
  active: boolean;
}

export interface Agent {
  id: string;
  name: string;
  description: string | null;
  contact: string;
  idpId: string | null;
  issuer: string | null;
  subject: string | null;
  active: boolean;
  status: string;
  roles: { id: string; name: string }[];
  lastSeenAt: string | null;
  health?: { state: 'ready' | 'attention' | 'blocked'; notes: string[] };
  createdAt: string;
}

export interface AgentKey {
  id: string;
  name: string;
  prefix: string;
  status: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  secret?: string;
}

export interface Role {
  id: string;
  name: string;
  description: string | null;
  permissions: string[];
}

export interface AuditEntry {
  id: string;
  occurredAt: string;
  principal: { kind: string | null; id: string | null; label: string | null };
  agentId: string | null;
  keyId: string | null;
  issuer: string | null;
  subject: string | null;
  action: string;
  target: string | null;
  decision: string;
  reason: string | null;
  outcome: string;
  argumentsDigest: string | null;
  arguments: unknown;
  latencyMs: number | null;
  requestId: string;
  clientAddress: string | null;
  details: unknown;
}

export interface AccessCheck {
  agent: { id: string; name: string; active: boolean };
  idp: { id: string; name: string; issuer: string; active: boolean } | null;
  credentials: { jwt: boolean; activeApiKeys: number };
  permissions: string[];
  tools: { name: string; plugin: string; permission: string | null; allowed: boolean; approvalRequired?: boolean; reason: string; missingPermission?: string }[];
}

export interface KnownPermission {
  permission: string;
  tools: string[];
}

export interface Policy {
  id: string;
  name: string;
  description: string | null;
  text: string;
  enabled: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
  updatedBy: string | null;
  /** Why the policy failed when it was last evaluated; calls it governs are refused until fixed. */
  lastError: string | null;
}

export interface PolicyList {
  /** The tenant's policy set version: it goes up with every change. */
  version: number;
  policies: Policy[];
}

export interface PolicyChange {
  version: number;
  name: string;
  text: string;
  enabled: boolean;
  changedBy: string | null;
  changedAt: string;
  /** Unified diff of the text against the version before. */
  diff: string;
}

export interface PolicyProblem {
  message: string;
  line?: number;
  column?: number;
}

export interface PolicyValidation {
  valid: boolean;
  errors: PolicyProblem[];
}

/** A JSON Schema as tools declare their input (the subset the argument editor understands, plus anything). */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  default?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
}

export interface PolicySchema {
  cedarSchema: string;
  tools: { name: string; description: string | null; inputSchema: JsonSchema }[];
}

export interface Simulation {
  decision: 'allow' | 'deny' | 'approval';
  reason: string;
  stage: 'agent' | 'rbac' | 'policy' | 'quota';
  policies: { id: string; name: string }[];
  errors: { policy?: string; policyId?: string; message: string }[];
  /** How many people approve each call, when the decision is `approval`. */
  approvers?: number;
}

export type LimitWindow = 'second' | 'minute' | 'hour' | 'day' | 'month';

export interface Limit {
  id: string;
  scope: 'tenant' | 'agent' | 'role';
  agentId: string | null;
  roleId: string | null;
  tool: string | null;
  window: LimitWindow;
  max: number;
  usage: { used: number; resetsAt: string | null; counts: { agentId: string | null; used: number; leased: number }[] };
}
