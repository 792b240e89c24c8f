import type { Principal } from '../../../core/index.js';

/**
 * An OpenAPI 3.0 / 3.1 document: a file path (JSON or YAML), a `file:`/`http(s):` URL, or the
 * parsed document itself. URL documents are fetched while the engine boots.
 */
export type ApiDocumentSource = string | URL | Record<string, unknown>;

/** One document plus its optional curated overrides. */
export interface ApiDocumentOptions {
  readonly source: ApiDocumentSource;
  /** A path (JSON or YAML) or an object of {@link ApiOverrides}. */
  readonly overrides?: string | URL | ApiOverrides;
  /**
   * The base URL requests are built against. Default: the document's first `servers` entry. For
   * in-process dispatch only its path matters (e.g. `/api/v1`).
   */
  readonly baseUrl?: string;
}

/** A worked example of calling an operation, shown by `describe`. */
export interface ApiExample {
  readonly title: string;
  readonly description?: string;
  /** The arguments of the call tool: `{ path?, query?, headers?, body? }`. */
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** Step-by-step guidance for a task that involves the operation, shown by `describe`. */
export interface ApiPlaybook {
  readonly title: string;
  readonly steps: readonly string[];
}

/** Curated facts about one operation, overriding or completing what the document says. */
export interface ApiOperationOverride {
  /** A human-friendly name (default: the summary, else the operation id). */
  readonly displayName?: string;
  readonly summary?: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  /** The permission the operation needs (default: `x-gatehouse-permission`, else derived). */
  readonly permission?: string;
  /**
   * Each call waits for a person's approval (default: `x-approval-required` or
   * `x-gatehouse-requires-approval`, else false). Editions without approvals refuse such calls.
   */
  readonly requiresApproval?: boolean;
  /** How many different people must approve a call (1 or 2; default `x-gatehouse-approvers`, else 1). */
  readonly approvers?: 1 | 2;
  /** Leave the operation out of the registry entirely. */
  readonly hidden?: boolean;
  /** Extra words that should find the operation in search. */
  readonly keywords?: readonly string[];
  readonly examples?: readonly ApiExample[];
  readonly playbooks?: readonly ApiPlaybook[];
}

/**
 * Overrides of one document, keyed by operation id (the `operationId`, or the id derived from
 * method and path). An id that names no operation fails at boot.
 *
 * ```yaml
 * operations:
 *   deleteTicket:
 *     requiresApproval: true
 *     playbooks:
 *       - title: Close a duplicate
 *         steps: [Find the original with search, Add a comment linking it, Delete the duplicate]
 * ```
 */
export interface ApiOverrides {
  readonly operations?: Readonly<Record<string, ApiOperationOverride>>;
}

/**
 * In-process dispatch: the host's own Web-standard handler is called directly, with no network hop
 * and no credential. The authenticated principal travels with the `Request` object as trusted
 * context: read it with `principalOf(request)`.
 */
export interface InProcessDispatch {
  readonly handler: (request: Request) => Promise<Response> | Response;
}

/**
 * HTTP dispatch, for an API that runs elsewhere: requests go to `baseUrl` with the host's own
 * service credential, and the principal asserted in a header the host's API verifies. The caller's
 * credential is never forwarded (the engine never has it).
 */
export interface HttpDispatch {
  /** e.g. `https://api.internal.example.com/v1`; operation paths are appended to it. */
  readonly baseUrl: string;
  /** The host's credential for its API: sent as `Authorization: Bearer <value>`, or as the given header. */
  readonly serviceCredential: string | { readonly header: string; readonly value: string };
  /**
   * The header that carries the principal, as base64url-encoded JSON
   * `{ tenant, kind, id, label, scopes }`. Default `x-gatehouse-principal`.
   */
  readonly principalHeader?: string;
  /** Give up on a request after this long. Default 30 s. */
  readonly timeoutMs?: number;
}

export type ApiDispatch = InProcessDispatch | HttpDispatch;

/** Options of {@link apiRegistry}. */
export interface ApiRegistryOptions {
  /**
   * The plugin id, also the prefix of its tools (`<id>.search`, `<id>.describe`, `<id>.call`).
   * Default `api`. Use distinct ids to mount several APIs.
   */
  readonly id?: string;
  readonly documents: readonly ApiDocumentOptions[];
  readonly dispatch: ApiDispatch;
  /**
   * Also expose one tool per operation (`<id>.<operationId>`): convenient for small APIs, a flood
   * of tools for large ones. `{ max }` fails at boot when the registry has more operations.
   * Needs documents known when the plugin is declared (a path or an object, not an http(s) URL).
   */
  readonly directTools?: boolean | { readonly max: number };
  /** Largest response body returned to the caller, in bytes. Default 256 KiB. */
  readonly maxResponseBytes?: number;
  /**
   * The permission the meta-tools themselves declare; default `<id>:use`. A caller needs it to use
   * the registry at all, and each operation's own permission to call that operation.
   */
  readonly toolPermission?: string;
}

/** What the in-process handler learns about the call it serves. */
export interface ApiCallContext {
  readonly principal: Principal;
  readonly operationId: string;
  /** The MCP request id of the tool call, for correlating logs. */
  readonly requestId: string;
}
