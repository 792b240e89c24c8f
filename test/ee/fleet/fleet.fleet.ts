import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { readFile } from 'node:fs/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { sseEvents } from '../../protocol/support.js';
import { haproxyConfig, startFleet, type Fleet, type FleetInstance } from '../../../scripts/fleet/fleet-harness.js';

const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fleet-test', version: '1' } } };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function haproxyInstalled(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function mcp(url: string, key: string, message: object, session?: string): Promise<{ status: number; body: any; session: string | null }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}`, ...(session ? { 'mcp-session-id': session } : {}) },
    body: JSON.stringify(message),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, session: res.headers.get('mcp-session-id') };
}

const mcpOf = (instance: FleetInstance) => `${instance.url}/api/mcp`;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

describe('fleet: the balancer configuration', () => {
  it('docs/deployment.md shows the HAProxy configuration the fleet tests use', async () => {
    const docs = await readFile(new URL('../../../docs/deployment.md', import.meta.url), 'utf8');
    const shown = /```haproxy\n([\s\S]*?)```/.exec(docs)?.[1];
    const used = haproxyConfig(8080, [1, 2, 3].map((n) => ({ name: `engine-${n}`, port: 3000 + n })));
    expect(shown).to.equal(used);
  });
});

describe('fleet: three instances on one PostgreSQL behind HAProxy', function () {
  this.timeout(180_000);
  let fleet: Fleet;

  before(async function () {
    if (!process.env.DATABASE_URL) return this.skip();
    if (!haproxyInstalled()) return this.skip();
    fleet = await startFleet({ instances: 3, streamFixtures: true });
  });
  after(async () => {
    await fleet?.stop();
  });

  it('an admin UI session signed in through the balancer works on every instance, and a sign-out ends it on all', async () => {
    const signIn = await fetch(`${fleet.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: fleet.adminKey }) });
    expect(signIn.status).to.equal(200);
    const cookie = signIn.headers.get('set-cookie')!.split(';', 1)[0]!;
    const { data } = (await signIn.json()) as { data: { csrfToken: string } };
    for (const [i, instance] of fleet.instances.entries()) {
      const current = await fetch(`${instance.url}/admin/session`, { headers: { cookie } });
      expect(current.status, `session on ${instance.name}`).to.equal(200);
      await current.body?.cancel();
      const change = await fetch(`${instance.url}/api/v1/mcp/roles`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': data.csrfToken },
        body: JSON.stringify({ name: `ui role ${i}`, permissions: ['fleet:echo'] }),
      });
      expect(change.status, `a change on ${instance.name}`).to.equal(201);
      await change.body?.cancel();
      const forged = await fetch(`${instance.url}/api/v1/mcp/roles`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `forged ${i}`, permissions: [] }),
      });
      expect(forged.status, `a change without the CSRF token on ${instance.name}`).to.equal(403);
      await forged.body?.cancel();
    }
    const [first, second, third] = fleet.instances;
    const out = await fetch(`${third!.url}/admin/session/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': data.csrfToken } });
    expect(out.status).to.equal(200);
    await out.body?.cancel();
    for (const instance of [first!, second!]) {
      const deadline = Date.now() + 1000;
      let status = 0;
      do {
        const res = await fetch(`${instance.url}/admin/session`, { headers: { cookie } });
        status = res.status;
        await res.body?.cancel();
      } while (status !== 401 && Date.now() < deadline && (await pause(20), true));
      expect(status, `signed out on ${instance.name}`).to.equal(401);
    }
  });

  it('a revoked agent key is refused on every instance within 1 s (p99), measured across the three', async () => {
    const agent = await fleet.agent('revocation');
    const samples: number[] = [];
    const rounds = 12;
    for (let round = 0; round < rounds; round++) {
      const issued = await fleet.admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: `round ${round}` });
      const key = issued.body.data.secret as string;
      // Warm every instance's cache with the key.
      for (const instance of fleet.instances) expect((await mcp(mcpOf(instance), key, { jsonrpc: '2.0', id: 1, method: 'tools/list' })).status).to.equal(200);
      const revoker = fleet.instances[round % 3]!;
      const revoked = await fleet.admin('DELETE', `/api/v1/mcp/agents/${agent.id}/keys/${issued.body.data.id}`, undefined, revoker.url);
      expect(revoked.status).to.equal(200);
      const t0 = performance.now();
      expect((await mcp(mcpOf(revoker), key, { jsonrpc: '2.0', id: 2, method: 'tools/list' })).status, 'refused at once where revoked').to.equal(401);
      await Promise.all(
        fleet.instances
          .filter((instance) => instance !== revoker)
          .map(async (instance) => {
            while ((await mcp(mcpOf(instance), key, { jsonrpc: '2.0', id: 3, method: 'tools/list' })).status !== 401) {
              if (performance.now() - t0 > 5000) throw new Error(`${instance.name} still accepts the key 5 s after its revocation`);
              await pause(5);
            }
            samples.push(performance.now() - t0);
          }),
      );
    }
    samples.sort((a, b) => a - b);
    const p50 = percentile(samples, 50);
    const p99 = percentile(samples, 99);
    process.stdout.write(`      revocation propagation over ${samples.length} samples: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms\n`);
    expect(p99).to.be.below(1000);

    // Deactivating the agent stops its other keys everywhere as well.
    const other = await fleet.admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: 'kept' });
    const key = other.body.data.secret as string;
    for (const instance of fleet.instances) expect((await mcp(mcpOf(instance), key, { jsonrpc: '2.0', id: 1, method: 'tools/list' })).status).to.equal(200);
    expect((await fleet.admin('POST', `/api/v1/mcp/agents/${agent.id}/deactivate`, {}, fleet.instances[0]!.url)).status).to.equal(200);
    const t0 = performance.now();
    for (const instance of fleet.instances) {
      while ((await mcp(mcpOf(instance), key, { jsonrpc: '2.0', id: 4, method: 'tools/list' })).status !== 401) {
        expect(performance.now() - t0, `${instance.name} refuses the deactivated agent within 1 s`).to.be.below(1000);
        await pause(5);
      }
    }
  });

  it('an SDK client behind the balancer answers elicitations: every answer reaches the tool, whichever instance the answer lands on', async () => {
    const { key } = await fleet.agent('elicited');
    const client = new Client({ name: 'fleet-elicitation', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params.message);
      return { action: 'accept', content: { sure: true } };
    });
    const db = new pg.Client({ connectionString: fleet.databaseUrl });
    await db.connect();
    const kept = async () => Number((await db.query("select coalesce(sum(n_tup_ins), 0)::int as n from pg_stat_user_tables where relname = 'mcp_client_responses'")).rows[0].n);
    const keptBefore = await kept();
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(fleet.mcpUrl), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
      // Round-robin without stickiness: the call and the answer to its elicitation land on different instances.
      for (let i = 0; i < 6; i++) {
        const result = await client.callTool({ name: 'confirm', arguments: { question: `sure ${i}?` } });
        expect(result.isError ?? false, `call ${i}`).to.equal(false);
        expect(result.content, `call ${i}`).to.deep.equal([{ type: 'text', text: 'accept: {"sure":true}' }]);
      }
      expect(asked).to.deep.equal([0, 1, 2, 3, 4, 5].map((i) => `sure ${i}?`));
      // Answers that landed elsewhere were kept in PostgreSQL for the waiting instance, which took them.
      const deadline = Date.now() + 10_000;
      while ((await kept()) === keptBefore && Date.now() < deadline) await pause(100);
      expect(await kept(), 'some answers crossed instances').to.be.above(keptBefore);
      expect(Number((await db.query('select count(*)::int as n from mcp_client_responses')).rows[0].n), 'every kept answer was taken').to.equal(0);
    } finally {
      await client.close();
      await db.end();
    }
  });

  it('a session’s standalone stream is resumed with Last-Event-ID on every instance, and through the balancer: what was missed, in order, then what comes', async () => {
    const { key } = await fleet.agent('listener');
    const init = await fetch(fleet.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ ...INIT, params: { ...INIT.params, protocolVersion: '2025-11-25' } }),
    });
    const session = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    expect((await mcp(fleet.mcpUrl, key, { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'fleet://board' } }, session)).body.result).to.deep.equal({});
    const touch = async (id: number) => {
      const res = await mcp(fleet.mcpUrl, key, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'touch', arguments: {} } }, session);
      expect(res.body.result.content[0].text).to.equal('touched');
    };
    const listen = async (base: string, lastEventId?: string) => {
      const res = await fetch(base, { headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } });
      expect(res.status).to.equal(200);
      return sseEvents(res);
    };
    const first = await listen(fleet.mcpUrl);
    const priming = await first.next();
    expect(priming!.id).to.match(/^[1-9][0-9]*$/);
    expect(priming!.data).to.equal('');
    await touch(2);
    let last = (await first.next())!;
    expect(JSON.parse(last.data)).to.deep.equal({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'fleet://board' } });
    await first.cancel();
    let id = 3;
    for (const base of [...fleet.instances.map(mcpOf), fleet.mcpUrl]) {
      // Away: two updates, made through the balancer on whichever instances it picks.
      await touch(id++);
      await touch(id++);
      const resumed = await listen(base, last.id);
      const missed = [(await resumed.next())!, (await resumed.next())!];
      expect(missed.map((event) => JSON.parse(event.data).method), base).to.deep.equal(['notifications/resources/updated', 'notifications/resources/updated']);
      expect(BigInt(missed[0]!.id!) > BigInt(last.id!) && BigInt(missed[1]!.id!) > BigInt(missed[0]!.id!), `${base}: in order, after the last event seen`).to.equal(true);
      await touch(id++);
      last = (await resumed.next())!;
      expect(BigInt(last.id!) > BigInt(missed[1]!.id!), `${base}: then what comes`).to.equal(true);
      await resumed.cancel();
    }
  });

  it('sessions started through the balancer survive the instance that created one of them being killed', async () => {
    const { key } = await fleet.agent('sessions');
    // Round-robin: three initializes land on the three instances, one each.
    const sessions: string[] = [];
    for (let i = 0; i < 3; i++) {
      const init = await mcp(fleet.mcpUrl, key, INIT);
      expect(init.status).to.equal(200);
      sessions.push(init.session!);
    }
    expect(new Set(sessions).size).to.equal(3);
    const victim = fleet.instances[0]!;
    victim.process.kill('SIGKILL');
    await victim.exited;
    // The balancer's health check takes the dead instance out (two failed checks, 500 ms apart).
    await pause(1500);
    for (const session of sessions) {
      for (let call = 0; call < 4; call++) {
        const res = await mcp(fleet.mcpUrl, key, { jsonrpc: '2.0', id: 10 + call, method: 'tools/call', params: { name: 'echo', arguments: { text: 'still here' } } }, session);
        expect(res.status, `session ${session.slice(0, 6)}… call ${call}`).to.equal(200);
        expect(res.body.result.content[0].text).to.equal('still here');
      }
    }
  });

  it('audit rows equal executed calls after an instance is stopped with SIGTERM under load', async () => {
    const agent = await fleet.agent('audited');
    const live = fleet.instances.filter((instance) => instance.process.exitCode === null && instance.process.signalCode === null);
    expect(live.length).to.be.at.least(2);
    let executed = 0;
    let refused = 0;
    let failed = 0;
    let running = true;
    const worker = async (n: number) => {
      for (let i = 0; running; i++) {
        try {
          const res = await mcp(fleet.mcpUrl, agent.key, { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'wait', arguments: { ms: 30 } } });
          if (res.status === 200 && res.body?.result && !res.body.result.isError) executed++;
          else refused++;
        } catch {
          failed++;
        }
        void n;
      }
    };
    const workers = Array.from({ length: 6 }, (_, n) => worker(n));
    await pause(1500);
    const stopped = live[0]!;
    stopped.process.kill('SIGTERM');
    expect(await stopped.exited, 'the stopped instance exits cleanly').to.equal(0);
    await pause(1000);
    running = false;
    await Promise.all(workers);
    // Writes are batched: give the live instances' sinks a moment to flush.
    const db = new pg.Client({ connectionString: fleet.databaseUrl });
    await db.connect();
    try {
      let rows = -1;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const result = await db.query("select count(*)::int as n from mcp_agent_audit where tenant = $1 and agent_id = $2 and action = 'tools/call' and outcome = 'success'", [fleet.tenant, agent.id]);
        rows = result.rows[0].n as number;
        if (rows >= executed) break;
        await pause(200);
      }
      process.stdout.write(`      ${executed} calls executed, ${refused} refused while stopping, ${failed} failed in transit; ${rows} audit rows\n`);
      expect(executed).to.be.above(20);
      expect(rows).to.equal(executed);
    } finally {
      await db.end();
    }
  });
});
