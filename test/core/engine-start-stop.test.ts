import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { AuditSink, Authenticator, LifecycleContribution, Policy, ShutdownError, createEngine, definePlugin, type DatabaseOptions, type Engine } from '@gatehouse-mcp/engine';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, testDatabase } from '@gatehouse-mcp/engine/testing';

/** A service that notes its starts and stops in a shared journal, and can be told to fail. */
class Service implements LifecycleContribution {
  startFailure: unknown;
  stopFailures = 0;
  constructor(private readonly name: string, private readonly journal: string[]) {}
  async start(): Promise<void> {
    if (this.startFailure !== undefined) throw this.startFailure;
    this.journal.push(`start ${this.name}`);
  }
  async stop(): Promise<void> {
    this.journal.push(`stop ${this.name}`);
    if (this.stopFailures > 0) {
      this.stopFailures--;
      throw new Error(`${this.name} would not stop`);
    }
  }
}

function edition(audit: RecordingAuditSink, services: Service[]) {
  return definePlugin({
    id: 'recording-edition',
    register({ bind }) {
      bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({}));
      bind(Policy).toConstantValue(new RecordingPolicy());
      bind(AuditSink).toConstantValue(audit);
      for (const service of services) bind(LifecycleContribution).toConstantValue(service);
    },
  });
}

/** A database the engine opens itself (so closing it is the engine's job): its own schema on the test server. */
function ownDatabase(): { options: DatabaseOptions; drop: () => Promise<void> } {
  const url = process.env.DATABASE_URL;
  if (!url) return { options: { dataDir: 'memory://' }, drop: async () => {} };
  const schema = `i19_lifecycle_${randomBytes(5).toString('hex')}`;
  return { options: { url, schema, pool: { min: 0, max: 3 } }, drop: async () => void (await (await testDatabase()).raw('drop schema if exists ?? cascade', [schema])) };
}

const closedDatabase = async (engine: Engine): Promise<boolean> => engine.database.knex.raw('select 1').then(() => false, () => true);

describe('engine lifecycle: a start that fails unwinds; close() runs every step, reports all failures, and can be called again', () => {
  it('a service that fails to start: the ones started before it are stopped in reverse, later ones never start, and the audit sink is closed', async () => {
    const journal: string[] = [];
    const audit = new RecordingAuditSink();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => new Service(name, journal));
    c!.startFailure = new Error('c cannot start');
    const db = ownDatabase();
    const failing = edition(audit, [a!, b!, c!, d!]);
    try {
      const error = await createEngine({ plugins: [failing], database: db.options, logLevel: 'silent' }).then(() => undefined, (e: unknown) => e);
      expect((error as Error).message).to.equal('c cannot start');
      expect(journal).to.deep.equal(['start a', 'start b', 'stop b', 'stop a']);
      expect(audit.closed).to.equal(true);
    } finally {
      await db.drop();
    }
  });

  it('close(): a stop that fails does not skip the others or the database; all failures are reported; a second close() retries only what failed', async () => {
    const journal: string[] = [];
    const audit = new RecordingAuditSink();
    const [a, b, c] = ['a', 'b', 'c'].map((name) => new Service(name, journal));
    b!.stopFailures = 1;
    c!.stopFailures = 1;
    const db = ownDatabase();
    try {
      const engine = await createEngine({ plugins: [edition(audit, [a!, b!, c!])], database: db.options, logLevel: 'silent' });
      journal.length = 0;
      const first = await engine.close().then(() => undefined, (e: unknown) => e);
      expect(first).to.be.instanceOf(ShutdownError);
      expect((first as ShutdownError).failures.map((f) => f.step)).to.deep.equal(['stop Service', 'stop Service']);
      expect((first as Error).message).to.include('c would not stop').and.include('b would not stop');
      expect(journal).to.deep.equal(['stop c', 'stop b', 'stop a']);
      expect(audit.closed).to.equal(true);
      expect(await closedDatabase(engine)).to.equal(true);

      journal.length = 0;
      await engine.close();
      expect(journal).to.deep.equal(['stop c', 'stop b']);
      journal.length = 0;
      await engine.close();
      expect(journal).to.deep.equal([]);
    } finally {
      await db.drop();
    }
  });

  it('close() called twice at once runs each step once', async () => {
    const journal: string[] = [];
    const audit = new RecordingAuditSink();
    const a = new Service('a', journal);
    const engine = await createEngine({ plugins: [edition(audit, [a])], database: { knex: await testDatabase() }, logLevel: 'silent' });
    journal.length = 0;
    await Promise.all([engine.close(), engine.close()]);
    expect(journal).to.deep.equal(['stop a']);
  });
});
