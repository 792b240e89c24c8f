import type { ApiExample, ApiPlaybook } from './api-registry-options.js';
import type { Json } from './schema-inliner.js';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'OPTIONS' | 'HEAD' | 'PATCH' | 'TRACE';

/** Where a parameter goes. */
export type ParameterLocation = 'path' | 'query' | 'header' | 'cookie';

export interface ApiParameter {
  readonly name: string;
  readonly in: ParameterLocation;
  readonly required: boolean;
  readonly description: string | undefined;
  /** Self-contained JSON Schema (2020-12). */
  readonly schema: Json;
  /** OpenAPI serialisation style (`form`, `simple`, `deepObject`…) and explode flag. */
  readonly style: string;
  readonly explode: boolean;
  readonly deprecated: boolean;
}

export interface ApiRequestBody {
  readonly required: boolean;
  /** The media type sent (`application/json` when the operation accepts it). */
  readonly contentType: string;
  readonly description: string | undefined;
  readonly schema: Json | undefined;
}

export interface ApiResponse {
  /** `200`, `4XX`, `default`… */
  readonly status: string;
  readonly description: string | undefined;
  readonly contentType: string | undefined;
  readonly schema: Json | undefined;
}

/**
 * One operation of a registered API: everything needed to find it, govern it, describe it and
 * call it. Schemas are self-contained (references inlined, recursion through `$defs`).
 */
export interface ApiOperation {
  /** Stable id: the `operationId`, or one derived from method and path (`get_tickets_by_id`). */
  readonly id: string;
  /** The label of the document it comes from. */
  readonly document: string;
  readonly method: HttpMethod;
  /** The path template, e.g. `/tickets/{id}`. */
  readonly path: string;
  /** The base URL (or base path) requests are built against; may be empty. */
  readonly baseUrl: string;
  readonly displayName: string;
  readonly summary: string | undefined;
  readonly description: string | undefined;
  readonly tags: readonly string[];
  readonly parameters: readonly ApiParameter[];
  readonly requestBody: ApiRequestBody | undefined;
  readonly responses: readonly ApiResponse[];
  readonly examples: readonly ApiExample[];
  readonly playbooks: readonly ApiPlaybook[];
  /** The permission a caller needs, e.g. `tickets:write`. */
  readonly permission: string;
  /** Each call waits for a person's approval. */
  readonly requiresApproval: boolean;
  /** How many different people must approve a call. */
  readonly approvers: 1 | 2;
  readonly deprecated: boolean;
  /** Extra search words from the overrides. */
  readonly keywords: readonly string[];
  /** JSON Schema of the call tool's arguments for this operation: `{ path?, query?, headers?, body? }`. */
  readonly inputSchema: Record<string, Json>;
}
