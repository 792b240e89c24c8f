import { expect } from 'chai';
import { AuditSink } from '@gatehouse-mcp/engine';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

/**
 * One event the database refuses must not block the others of its batch: the sink writes that
 * batch row by row and stores the refused event without its arguments and details, saying why.
 */
describe('EE audit: a batch with one row the database refuses is written row by row', () => {
  let t: GovernanceTestEngine;
  let key: string;
  const constraint = `i19_refuse_poison_${process.pid}`;
  before(async () => {
    t = await governanceEngine({ edition: { audit: { flushIntervalMs: 60_000, batchSize: 50 } } });
    const role = await t.role('echoer', ['echo:run']);
    key = (await t.agent({ roleIds: [role] })).key;
    // A stand-in for any data error: the database refuses rows whose arguments mention "poison".
    await t.knex.raw(`alter table mcp_agent_audit add constraint ?? check (arguments is null or position('poison' in arguments::text) = 0)`, [constraint]);
  });
  after(async () => {
    await t?.knex.raw('alter table mcp_agent_audit drop constraint if exists ??', [constraint]).catch(() => undefined);
    await t?.close();
  });

  async function callEcho(note: string): Promise<void> {
    const response = await t.http('POST', `/t/${t.tenant}/api/mcp`, {
      token: key,
      headers: { accept: 'application/json' },
      body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { note } } },
    });
    expect(response.status).to.equal(200);
  }

  it('the good rows keep their arguments; the refused one is stored without them, with the reason in its details', async () => {
    await callEcho('first');
    await callEcho('poison pill');
    await callEcho('third');
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const listed = await t.http('GET', '/api/v1/mcp/audit?target=echo&limit=10', { token: t.adminKey });
    expect(listed.status).to.equal(200);
    const rows = (listed.body.data as { arguments: unknown; details: Record<string, unknown> | null }[]).reverse();
    expect(rows).to.have.length(3);
    expect(rows.map((row) => row.arguments)).to.deep.equal([{ note: 'first' }, null, { note: 'third' }]);
    expect(String(rows[1]!.details?.auditError)).to.match(/^event stored without arguments and details: /);
  });
});
