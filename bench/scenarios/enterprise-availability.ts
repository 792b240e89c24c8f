import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const EE_INDEX = fileURLToPath(new URL('../../src/plugins/ee/index.ts', import.meta.url));
// A variable specifier keeps the type checker from requiring the Enterprise plugin in checkouts without it.
const EE_MODULE = 'gatehouse/ee';

export interface EnterpriseModule {
  enterpriseEdition(options?: Record<string, unknown>): unknown;
}

/** Load the Enterprise plugin, or say why it cannot be loaded. */
export async function loadEnterprise(): Promise<{ module: EnterpriseModule } | { reason: string }> {
  if (!existsSync(EE_INDEX)) return { reason: 'src/plugins/ee/index.ts does not exist in this checkout' };
  try {
    const module = (await import(EE_MODULE)) as Partial<EnterpriseModule>;
    if (typeof module.enterpriseEdition !== 'function') return { reason: 'gatehouse/ee does not export enterpriseEdition()' };
    return { module: module as EnterpriseModule };
  } catch (error) {
    return { reason: `gatehouse/ee does not load: ${(error as Error).message.split('\n')[0]}` };
  }
}
