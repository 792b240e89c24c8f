import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import knexFactory from 'knex';
import pg from 'pg';
import { AuditSink } from '@gatehouse-mcp/engine';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { governanceEngine } from './support.js';

const url = process.env.DATABASE_URL;
const root = fileURLToPath(new URL('../../..', import.meta.url));

(url ? describe : describe.skip)('EE audit: SIGKILL under load with durable-before-execute tools', function () {
  this.timeout(120_000);
  const schema = `i14_crash_${randomBytes(4).toString('hex')}`;
  let admin: pg.Client;
  before(async () => {
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await admin.query(`create table ${schema}.side_effects (tenant text not null, request_id text not null, n int not null)`);
  });
  after(async () => {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  });

  it('leaves no executed side effect without an audit record: intents are completed or marked outcome unknown', async () => {
    const tenant = uniqueTenant('crash');
    const child = spawn(process.execPath, ['--conditions=gatehouse-source', '--import', 'tsx', path.join(root, 'test/ee/governance/durable-server.ts'), url!, schema, tenant], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const ready = await new Promise<{ mcp: string; key: string }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as { mcp: string; key: string });
      });
      child.on('exit', (code) => reject(new Error(`the engine exited (${code}) before it was ready: ${stderr}`)));
    });

    let killed = false;
    let answered = 0;
    let n = 0;
    const worker = async (): Promise<void> => {
      while (!killed) {
        try {
          const response = await fetch(ready.mcp, {
            method: 'POST',
            headers: { authorization: `Bearer ${ready.key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
            body: JSON.stringify({ jsonrpc: '2.0', id: ++n, method: 'tools/call', params: { name: 'orders.place', arguments: { n } } }),
          });
          const text = await response.text();
          if (response.status === 200 && text.includes('placed')) answered++;
        } catch {
          // the engine is gone
        }
      }
    };
    const workers = Array.from({ length: 16 }, () => worker());
    const deadline = Date.now() + 20_000;
    while (answered < 150 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGKILL');
    killed = true;
    await exited;
    await Promise.all(workers);
    expect(answered, stderr).to.be.greaterThan(0);

    // The next instance to start records what the dead one left open.
    const knex = knexFactory({ client: 'pg', connection: url!, searchPath: [schema], pool: { min: 0, max: 4 } });
    const t = await governanceEngine({ database: { knex } });
    try {
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      const effects = (await knex('side_effects').where({ tenant }).select('request_id')).map((r) => r.request_id as string);
      expect(effects.length).to.be.greaterThan(0);
      const rows = (await knex('mcp_agent_audit').where({ tenant, action: 'tools/call' }).select('request_id', 'outcome')) as { request_id: string; outcome: string }[];
      const byRequest = new Map<string, string[]>();
      for (const row of rows) byRequest.set(row.request_id, [...(byRequest.get(row.request_id) ?? []), row.outcome]);
      const unrecorded = effects.filter((id) => !byRequest.get(id)?.includes('intent'));
      expect(unrecorded, 'side effects without an intent').to.deep.equal([]);
      const open = [...byRequest.entries()].filter(([, outcomes]) => outcomes.includes('intent') && outcomes.length === 1);
      expect(open, 'intents neither completed nor marked unknown').to.deep.equal([]);
      expect(await knex('mcp_audit_open_intents').where({ tenant })).to.deep.equal([]);
      const unknown = rows.filter((r) => r.outcome === 'unknown').length;
      const completed = rows.filter((r) => r.outcome === 'success').length;
      expect(unknown + completed).to.equal(rows.filter((r) => r.outcome === 'intent').length);
    } finally {
      await t.close();
      await knex.destroy();
    }
  });
});
