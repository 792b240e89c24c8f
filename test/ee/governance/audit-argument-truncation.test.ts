import { expect } from 'chai';
import { AuditSink } from '@gatehouse-mcp/engine';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const MCP = (t: GovernanceTestEngine): string => `/t/${t.tenant}/api/mcp`;

describe('EE audit: arguments over audit.maxArgumentBytes are stored as a truncation marker', () => {
  let t: GovernanceTestEngine;
  let key: string;
  before(async () => {
    t = await governanceEngine({ edition: { audit: { maxArgumentBytes: 200 } } });
    const role = await t.role('echoer', ['echo:run']);
    key = (await t.agent({ roleIds: [role] })).key;
  });
  after(() => t?.close());

  async function callEcho(args: Record<string, unknown>): Promise<void> {
    const response = await t.http('POST', MCP(t), {
      token: key,
      headers: { accept: 'application/json' },
      body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: args } },
    });
    expect(response.status).to.equal(200);
    expect(response.body.result.isError).to.not.equal(true);
  }

  async function lastEchoRow(): Promise<{ arguments: unknown; argumentsDigest: string | null }> {
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const listed = await t.http('GET', '/api/v1/mcp/audit?target=echo&limit=1', { token: t.adminKey });
    expect(listed.status).to.equal(200);
    return listed.body.data[0];
  }

  it('a call whose arguments exceed the limit is audited with {"truncated": true, "bytes": n} and a digest of the whole', async () => {
    const note = 'n'.repeat(1_000);
    await callEcho({ note });
    const row = await lastEchoRow();
    const bytes = Buffer.byteLength(JSON.stringify({ note }));
    expect(row.arguments).to.deep.equal({ truncated: true, bytes });
    expect(row.argumentsDigest).to.be.a('string').with.length.greaterThan(10);
  });

  it('a call within the limit is audited with its arguments as they were', async () => {
    await callEcho({ note: 'short' });
    const row = await lastEchoRow();
    expect(row.arguments).to.deep.equal({ note: 'short' });
  });
});
