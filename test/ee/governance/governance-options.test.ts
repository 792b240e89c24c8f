import { expect } from 'chai';
import { createEngine } from '@gatehouse-mcp/engine';
import { enterpriseEdition, type EnterpriseOptions } from '@gatehouse-mcp/engine/ee';
import { testDatabase } from '@gatehouse-mcp/engine/testing';

describe('EE governance options', () => {
  const boot = async (options: EnterpriseOptions): Promise<string> => {
    try {
      const engine = await createEngine({ plugins: [enterpriseEdition(options)], database: { knex: await testDatabase() }, logLevel: 'silent' });
      await engine.close();
      return 'booted';
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('refuses to boot with audit or RBAC settings that cannot work, naming the option', async () => {
    expect(await boot({ audit: { batchSize: 0 } })).to.contain('audit.batchSize must be a positive number');
    expect(await boot({ audit: { maxBuffered: 10, batchSize: 20 } })).to.contain('audit.batchSize must not exceed audit.maxBuffered');
    expect(await boot({ audit: { flushEvery: 5 } as never })).to.contain('unknown option "audit.flushEvery"');
    expect(await boot({ audit: { redaction: { keys: 'password' } as never } })).to.contain('audit.redaction');
    expect(await boot({ rbac: { permissionCacheTtlMs: -1 } })).to.contain('rbac.permissionCacheTtlMs');
    expect(await boot({ rbac: { tenantKeys: 'sometimes' as never } })).to.contain('rbac.tenantKeys must be "deny" or "allow"');
    expect(await boot({ audit: { batchSize: 50, redaction: { keys: /ssn/ } }, rbac: { permissionCacheTtlMs: 1000 } })).to.equal('booted');
  });
});
