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
});
