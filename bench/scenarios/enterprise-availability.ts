import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ServiceIdentifier } from 'inversify';
import { ROOT } from '../harness/compiled.js';

// Whether this checkout has the Enterprise sources (the Community build has none), compiled or not.
const EE_INDEX = path.join(ROOT, 'src', 'plugins', 'ee', 'index.ts');
// A variable specifier keeps the type checker from requiring the Enterprise plugin in checkouts without it.
const EE_MODULE = '@gatehouse-mcp/engine/ee';

/** The part of the Enterprise plugin's public API the benchmark uses to set up a tenant. */
export interface EnterpriseModule {
  enterpriseEdition(options?: Record<string, unknown>): unknown;
  readonly IdpProviderStore: ServiceIdentifier<{
    create(tenant: string, input: Record<string, unknown>): Promise<{ id: string; audience: string }>;
  }>;
  readonly AgentStore: ServiceIdentifier<{
    create(tenant: string, input: Record<string, unknown>): Promise<{ id: string }>;
    issueKey(tenant: string, agentId: string, input: { name: string }): Promise<{ secret: string } | undefined>;
  }>;
  /** Tenant policies (the `ee-policy` scenario); absent from editions without them. */
  readonly PolicyStore?: ServiceIdentifier<{
    create(tenant: string, input: { name: string; text: string }, by: string): Promise<unknown>;
  }>;
}

/** Load the Enterprise plugin, or say why it cannot be loaded. */
export async function loadEnterprise(): Promise<{ module: EnterpriseModule } | { reason: string }> {
  if (!existsSync(EE_INDEX)) return { reason: 'src/plugins/ee/index.ts does not exist in this checkout' };
  try {
    const module = (await import(EE_MODULE)) as Partial<EnterpriseModule>;
    for (const name of ['enterpriseEdition', 'IdpProviderStore', 'AgentStore'] as const) {
      if (typeof module[name] !== 'function') return { reason: `gatehouse/ee does not export ${name}` };
    }
    return { module: module as EnterpriseModule };
  } catch (error) {
    return { reason: `gatehouse/ee does not load: ${(error as Error).message.split('\n')[0]}` };
  }
}
