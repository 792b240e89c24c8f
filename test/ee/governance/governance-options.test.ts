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
    expect(await boot({ audit: { batchSize: 0 } })).to.contain('audit.batchSize must be a whole number of at least 1');
    expect(await boot({ audit: { maxBuffered: 10, batchSize: 20 } })).to.contain('audit.batchSize must not exceed audit.maxBuffered');
    expect(await boot({ audit: { flushEvery: 5 } as never })).to.contain('unknown option "audit.flushEvery"');
    expect(await boot({ audit: { redaction: { keys: 'password' } as never } })).to.contain('audit.redaction');
    expect(await boot({ rbac: { permissionCacheTtlMs: -1 } })).to.contain('rbac.permissionCacheTtlMs');
    expect(await boot({ rbac: { tenantKeys: 'sometimes' as never } })).to.contain('rbac.tenantKeys must be "deny" or "allow"');
    expect(await boot({ audit: { batchSize: 50, redaction: { keys: /ssn/ } }, rbac: { permissionCacheTtlMs: 1000 } })).to.equal('booted');
  });

  // A timer armed for longer than 2^31-1 ms fires after 1 ms: such a flush interval wrote the audit
  // trail every millisecond, and such a checkpoint interval signed a checkpoint every millisecond.
  it('refuses durations no timer can wait for, and fractional counts, naming the option', async () => {
    const tooLong = 2 ** 31;
    const refused: [EnterpriseOptions, string][] = [
      [{ audit: { flushIntervalMs: tooLong } }, 'audit.flushIntervalMs must be a positive number of milliseconds, at most 2147483647'],
      [{ audit: { intentTimeoutMs: tooLong } }, 'audit.intentTimeoutMs must be a positive number of milliseconds'],
      [{ audit: { checkpoints: { intervalMs: tooLong } } }, 'audit.checkpoints.intervalMs must be a positive number of milliseconds'],
      [{ rbac: { permissionCacheTtlMs: tooLong } }, 'rbac.permissionCacheTtlMs must be a positive number of milliseconds'],
      [{ approvals: { webhookTimeoutMs: tooLong } }, 'approvals.webhookTimeoutMs must be a positive number of milliseconds'],
      [{ policies: { cacheTtlMs: tooLong } }, 'policies.cacheTtlMs must be a positive number of milliseconds'],
      [{ jwksFetchTimeoutMs: tooLong }, 'jwksFetchTimeoutMs must be a positive number of milliseconds'],
      [{ audit: { batchSize: 2.5 } }, 'audit.batchSize must be a whole number of at least 1, not 2.5'],
      [{ approvals: { webhookAttempts: 1.5 } }, 'approvals.webhookAttempts must be a whole number of at least 1'],
    ];
    for (const [options, message] of refused) expect(await boot(options), JSON.stringify(options)).to.contain(message);
    expect(await boot({ audit: { flushIntervalMs: 2 ** 31 - 1 }, approvals: { ttlMs: 24 * 3_600_000 } })).to.equal('booted');
  });
});
