import { expect } from 'chai';
import { injectable, inject } from 'inversify';
import { AuditSink, Authenticator, BootError, Policy, createEngine, defineTool, definePlugin, z, type AuthResult } from '@gatehouse-mcp/engine';
import { AllowAllPolicy, NoopAuditSink, communityEdition } from '@gatehouse-mcp/engine/oss';
import { testDatabase } from '@gatehouse-mcp/engine/testing';

const tool = (name: string) => defineTool({ name, description: name, input: z.object({}), handler: () => 'ok' });

async function bootError(plugins: Parameters<typeof createEngine>[0]['plugins']): Promise<BootError> {
  try {
    const engine = await createEngine({ plugins, database: { knex: await testDatabase() }, logLevel: 'silent' });
    await engine.close();
  } catch (error) {
    expect(error).to.be.instanceOf(BootError);
    return error as BootError;
  }
  throw new Error('the engine booted');
}

const MissingDependency = Symbol.for('test.MissingDependency');

@injectable()
class NeedsSomethingUnbound {
  constructor(@inject(MissingDependency) readonly dependency: unknown) {}
  async authenticate(): Promise<AuthResult> {
    return { ok: false, description: 'never' };
  }
  challenge(): Record<string, string> {
    return {};
  }
}

describe('boot validation (fail closed)', () => {
  it('refuses to start without an edition: no Authenticator, Policy or AuditSink bound', async () => {
    const error = await bootError([definePlugin({ id: 'tools-only', tools: [tool('a')] })]);
    expect(error.message).to.match(/No plugin provides Authenticator.*communityEdition\(\)/);
  });

  it('refuses a second Policy and names both plugins', async () => {
    const extra = definePlugin({ id: 'rogue-policy', register: ({ bind }) => void bind(Policy).to(AllowAllPolicy) });
    const error = await bootError([communityEdition(), extra]);
    expect(error.message).to.include('Policy is provided by more than one plugin ("community-edition", "rogue-policy")');
  });

  it('refuses the same plugin twice', async () => {
    const error = await bootError([communityEdition(), communityEdition()]);
    expect(error.message).to.match(/"community-edition" is registered twice/);
  });

  it('refuses duplicate tool names and names both plugins', async () => {
    const error = await bootError([communityEdition(), definePlugin({ id: 'first', tools: [tool('shared.name')] }), definePlugin({ id: 'second', tools: [tool('shared.name')] })]);
    expect(error.message).to.equal('Tool "shared.name" is defined by both plugin "first" and plugin "second"; tool names must be unique.');
  });

  it('refuses a binding whose dependencies cannot be resolved', async () => {
    const broken = definePlugin({
      id: 'broken-edition',
      register({ bind }) {
        bind(Authenticator).to(NeedsSomethingUnbound);
        bind(Policy).to(AllowAllPolicy);
      },
    });
    const audit = definePlugin({ id: 'audit', register: ({ bind }) => void bind(AuditSink).to(NoopAuditSink) });
    const error = await bootError([broken, audit]);
    expect(error.message).to.match(/Cannot build Authenticator/);
  });

  it('rejects invalid tool names and non-object input schemas when they are defined', () => {
    expect(() => tool('has space')).to.throw(/Tool name "has space" is invalid/);
    expect(() => defineTool({ name: 'x', description: 'x', input: z.string() as never, handler: () => 'x' })).to.throw(/zod object schema/);
  });

  // Node fires a timer armed for more than 2^31-1 ms after 1 ms: a write-stall or call timeout that
  // large dropped every slow reader, and spun the call deadline timer, instead of waiting longer.
  it('refuses engine options no timer or pool can honour, naming the option', async () => {
    const refusal = async (options: Partial<Parameters<typeof createEngine>[0]>): Promise<string> => {
      try {
        const engine = await createEngine({ plugins: [communityEdition()], database: { knex: await testDatabase() }, logLevel: 'silent', ...options });
        await engine.close();
        return 'booted';
      } catch (error) {
        expect((error as { code?: string }).code).to.equal('invalid_config');
        return (error as Error).message;
      }
    };
    const tooLong = 2 ** 31;
    expect(await refusal({ callTimeoutMs: tooLong })).to.equal('callTimeoutMs must be a positive number of milliseconds, at most 2147483647 (about 24.8 days), not 2147483648.');
    expect(await refusal({ writeStallTimeoutMs: tooLong })).to.contain('writeStallTimeoutMs must be a positive number of milliseconds');
    expect(await refusal({ sessions: { idleTimeoutMs: tooLong } })).to.contain('sessions.idleTimeoutMs must be a positive number of milliseconds');
    expect(await refusal({ maxBodyBytes: 1024.5 })).to.equal('maxBodyBytes must be a whole number of at least 1, not 1024.5.');
    expect(await refusal({ pageSize: Number.NaN })).to.contain('pageSize must be a whole number of at least 1, not NaN');
    expect(await refusal({ database: { url: process.env.DATABASE_URL ?? 'postgres://localhost/none', pool: { max: 0 } } })).to.contain('database.pool.max must be a whole number of at least 1, not 0');
    expect(await refusal({ database: { url: process.env.DATABASE_URL ?? 'postgres://localhost/none', pool: { min: 5, max: 2 } } })).to.contain('database.pool.min must be a whole number from 0 to database.pool.max (2), not 5');
    expect(await refusal({ callTimeoutMs: 2 ** 31 - 1, maxBodyBytes: 4096 })).to.equal('booted');
    expect(() => defineTool({ name: 'slow', description: 'slow', input: z.object({}), timeoutMs: tooLong, handler: () => 'x' })).to.throw(/Tool "slow": timeoutMs must be a positive number of milliseconds, at most 2147483647/);
  });
});
