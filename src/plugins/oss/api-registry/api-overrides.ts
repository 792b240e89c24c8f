import { z } from '../../../core/index.js';
import { InvalidApiDocumentError, pointerOf } from './api-document-error.js';
import { loadSync } from './openapi-loader.js';
import type { ApiOverrides } from './api-registry-options.js';

const example = z.strictObject({
  title: z.string().min(1),
  description: z.string().optional(),
  arguments: z.record(z.string(), z.unknown()),
});

const playbook = z.strictObject({
  title: z.string().min(1),
  steps: z.array(z.string().min(1)).min(1),
});

const operationOverride = z.strictObject({
  displayName: z.string().min(1).optional(),
  summary: z.string().optional(),
  description: z.string().optional(),
  tags: z.array(z.string().min(1)).optional(),
  permission: z.string().min(1).optional(),
  requiresApproval: z.boolean().optional(),
  approvers: z.union([z.literal(1), z.literal(2)]).optional(),
  hidden: z.boolean().optional(),
  keywords: z.array(z.string().min(1)).optional(),
  examples: z.array(example).optional(),
  playbooks: z.array(playbook).optional(),
});

const overridesSchema = z.strictObject({
  operations: z.record(z.string(), operationOverride).optional(),
});

/** Load and check the overrides of one document. */
export function loadOverrides(source: string | URL | ApiOverrides, documentLabel: string): { label: string; content: ApiOverrides } {
  const loaded =
    typeof source === 'string' || source instanceof URL
      ? loadSync(source, 0, 'overrides file')
      : { label: `overrides of ${documentLabel}`, content: structuredClone(source) as Record<string, unknown> };
  const parsed = overridesSchema.safeParse(loaded.content);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidApiDocumentError(loaded.label, pointerOf(issue.path.map((p) => (typeof p === 'number' ? p : String(p)))), issue.message);
  }
  return { label: loaded.label, content: parsed.data as ApiOverrides };
}
