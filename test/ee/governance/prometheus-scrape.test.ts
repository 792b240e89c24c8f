import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { PrometheusServer, skipWithoutPrometheus, type Sample } from '../../support/prometheus.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const METRICS_TOKEN = randomBytes(24).toString('hex');
/** The load lasts at least this long, and until Prometheus has scraped it three times (at most 30 s). */
const LOAD_MS = 4000;
const MAX_LOAD_MS = 30_000;

interface Caller {
  readonly key: string;
  readonly tenant: string;
  allowed: number;
  denied: number;
  lists: number;
}

async function call(t: GovernanceTestEngine, key: string, method: string, params: Record<string, unknown> = {}): Promise<any> {
  const response = await fetch(`${t.url}/api/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Series keyed by their labels without `le`. */
function bySeries(samples: Sample[]): Map<string, Sample[]> {
  const groups = new Map<string, Sample[]>();
  for (const sample of samples) {
    const { le: _le, ...rest } = sample.metric;
    const key = JSON.stringify(Object.entries(rest).sort());
    groups.set(key, [...(groups.get(key) ?? []), sample]);
  }
  return groups;
}

const value = (samples: Sample[]): number => samples.reduce((sum, sample) => sum + sample.value, 0);

describe('metrics: a real Prometheus scrapes a live Enterprise engine under load', function () {
  this.timeout(90_000);
  let t: GovernanceTestEngine;
  let prometheus: PrometheusServer | undefined;
  const busy = {} as Caller;
  const quiet = {} as Caller;
  let refused = 0;

  before(async function () {
    skipWithoutPrometheus(this);
    // One tenant label: the busier tenant keeps its name, the other is counted as "_other".
    t = await governanceEngine({ tenant: uniqueTenant('prom'), metrics: { token: METRICS_TOKEN, tenantLabels: 1 } });
    const reader = await t.role('reader', ['tickets:read']);
    Object.assign(busy, { key: (await t.agent({ roleIds: [reader] })).key, tenant: t.tenant, allowed: 0, denied: 0, lists: 0 });
    const otherTenant = uniqueTenant('prom-b');
    const otherAdmin = await t.adminOf(otherTenant);
    const otherReader = await t.role('reader', ['tickets:read'], otherAdmin);
    Object.assign(quiet, { key: (await t.agent({ roleIds: [otherReader], token: otherAdmin })).key, tenant: otherTenant, allowed: 0, denied: 0, lists: 0 });
    // The busy tenant is seen first, so it holds the one label from the start.
    const first = await call(t, busy.key, 'tools/call', { name: 'tickets.read', arguments: { id: 'warm-up' } });
    expect(first.status).to.equal(200);
    busy.allowed++;

    const address = new URL(t.url).host;
    prometheus = await PrometheusServer.start({ address, bearerToken: METRICS_TOKEN });
    // Prometheus finds its targets a few seconds after start: load starts once it scrapes.
    await prometheus.until('up{job="gatehouse"}', (samples) => samples.length === 1 && samples[0]!.value === 1, 30_000);

    // A short, bounded load: allowed and denied tool calls, lists and refused credentials.
    const scrapes = async (): Promise<number> => (await prometheus!.query('count_over_time(up{job="gatehouse"}[5m])'))[0]?.value ?? 0;
    const before = await scrapes();
    let stopped = false;
    const started = Date.now();
    const stopper = (async () => {
      while (Date.now() - started < MAX_LOAD_MS && (Date.now() - started < LOAD_MS || (await scrapes()) < before + 3)) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      stopped = true;
    })();
    const worker = async (caller: Caller, every: number): Promise<void> => {
      for (let i = 0; !stopped && i < 20_000; i++) {
        if (i % every !== 0) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        const step = i % 3;
        if (step === 0) {
          const res = await call(t, caller.key, 'tools/call', { name: 'tickets.read', arguments: { id: String(i) } });
          expect(res.body.result.isError, JSON.stringify(res.body)).to.not.equal(true);
          caller.allowed++;
        } else if (step === 1) {
          const res = await call(t, caller.key, 'tools/call', { name: 'tickets.write', arguments: { id: String(i), text: 'secret text' } });
          expect(res.body.result.isError).to.equal(true);
          caller.denied++;
        } else {
          await call(t, caller.key, 'tools/list');
          caller.lists++;
        }
      }
    };
    const intruder = async (): Promise<void> => {
      while (!stopped && refused < 2000) {
        expect((await call(t, 'gh_not-a-real-key', 'tools/list')).status).to.equal(401);
        refused++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await Promise.all([worker(busy, 1), worker(busy, 1), worker(quiet, 4), intruder(), stopper]);
  });

  after(async () => {
    await prometheus?.stop();
    await t?.close();
  });

  it('scrapes the engine with its own token: the target is up', async () => {
    await prometheus!.until('up{job="gatehouse"}', (samples) => samples.length === 1 && samples[0]!.value === 1);
    const [target] = await prometheus!.targets();
    expect(target!.health).to.equal('up');
  });

  it('counts every denied and allowed call by tool and decision', async () => {
    const total = busy.denied + quiet.denied;
    await prometheus!.until('sum(gatehouse_tool_calls_total{gen_ai_tool_name="tickets.write",gatehouse_decision="denied"})', (s) => s.length === 1 && s[0]!.value === total);
    await prometheus!.until(
      'sum(gatehouse_tool_calls_total{gen_ai_tool_name="tickets.read",gatehouse_decision="allowed",gatehouse_outcome="success"})',
      (s) => s.length === 1 && s[0]!.value === busy.allowed + quiet.allowed,
    );
  });

  it('request rates are positive while the load runs, by method and outcome', async () => {
    const rates = await prometheus!.query('sum by (mcp_method_name, gatehouse_outcome) (rate(mcp_server_operation_duration_seconds_count[1m]))');
    const rate = (method: string, outcome: string): number => rates.find((s) => s.metric.mcp_method_name === method && s.metric.gatehouse_outcome === outcome)?.value ?? 0;
    expect(rate('tools/call', 'ok')).to.be.greaterThan(0);
    expect(rate('tools/call', 'denied')).to.be.greaterThan(0);
    expect(rate('tools/list', 'ok')).to.be.greaterThan(0);
    expect(rate('tools/list', 'unauthenticated')).to.be.greaterThan(0);
    const p95 = await prometheus!.query('histogram_quantile(0.95, sum by (le) (rate(mcp_server_operation_duration_seconds_bucket{mcp_method_name="tools/call"}[1m])))');
    expect(p95[0]!.value).to.be.greaterThan(0).and.lessThan(5);
  });

  it('histogram buckets are cumulative and the +Inf bucket equals the count', async () => {
    const buckets = bySeries(await prometheus!.query('mcp_server_operation_duration_seconds_bucket'));
    const counts = bySeries(await prometheus!.query('mcp_server_operation_duration_seconds_count'));
    expect(buckets.size).to.be.greaterThan(2);
    for (const [series, samples] of buckets) {
      const ordered = samples.map((s) => ({ le: s.metric.le === '+Inf' ? Infinity : Number(s.metric.le), value: s.value })).sort((a, b) => a.le - b.le);
      for (let i = 1; i < ordered.length; i++) expect(ordered[i]!.value, `${series} le=${ordered[i]!.le}`).to.be.at.least(ordered[i - 1]!.value);
      expect(ordered.at(-1)!.le).to.equal(Infinity);
      const count = counts.get(series.replace('"mcp_server_operation_duration_seconds_bucket"', '"mcp_server_operation_duration_seconds_count"'));
      expect(count, `a _count for ${series}`).to.not.equal(undefined);
      expect(ordered.at(-1)!.value).to.equal(count![0]!.value);
    }
  });

  it('per-tenant series: the busiest tenant by name, the rest as _other, denials included', async () => {
    await prometheus!.until(`gatehouse_tenant_tool_calls_total{gatehouse_tenant="${busy.tenant}",gatehouse_decision="denied"}`, (s) => s.length === 1 && s[0]!.value === busy.denied);
    await prometheus!.until('gatehouse_tenant_tool_calls_total{gatehouse_tenant="_other",gatehouse_decision="denied"}', (s) => s.length === 1 && s[0]!.value === quiet.denied);
    expect(await prometheus!.query(`{gatehouse_tenant="${quiet.tenant}"}`)).to.deep.equal([]);
    const requests = await prometheus!.query(`sum(gatehouse_tenant_requests_total{gatehouse_tenant="${busy.tenant}"})`);
    expect(requests[0]!.value).to.equal(busy.allowed + busy.denied + busy.lists);
  });

  it('refused credentials are counted by reason', async () => {
    await prometheus!.until('gatehouse_auth_failures_total{gatehouse_auth_reason="invalid_credential"}', (s) => s.length === 1 && s[0]!.value === refused);
  });

  it('the audit writer reports its queue, lag and writes; the database pool its connections', async () => {
    const governed = busy.allowed + busy.denied + quiet.allowed + quiet.denied;
    // Refused credentials of an unknown key name no tenant, so they are not in the trail.
    await prometheus!.until('gatehouse_audit_events_written_total', (s) => s.length === 1 && s[0]!.value >= governed);
    const lag = await prometheus!.query('gatehouse_audit_write_lag_seconds_count');
    expect(lag[0]!.value).to.be.at.least(governed);
    expect(await prometheus!.query('gatehouse_audit_queue_depth')).to.have.length(1);
    expect(await prometheus!.query('gatehouse_audit_write_failures_total')).to.deep.equal([]);
    // Only a host's own sink can refuse an event after taking it; the Enterprise sink never does.
    expect(await prometheus!.query('gatehouse_audit_record_failures_total')).to.deep.equal([]);
    if (t.engine.database.kind === 'postgres') {
      const pool = await prometheus!.query('db_client_connection_count');
      expect(pool.map((s) => s.metric.db_client_connection_state).sort()).to.deep.equal(['idle', 'used']);
    }
  });

  it('every series docs/observability.md lists is scraped (those needing an IdP or sessions aside)', async () => {
    const doc = await readFile(new URL('../../../docs/observability.md', import.meta.url), 'utf8');
    const table = doc.slice(doc.indexOf('## Metrics'), doc.indexOf('\n## ', doc.indexOf('## Metrics') + 5));
    const names = [...table.matchAll(/^\| `([a-z_:]+)`/gm)].map((match) => match[1]!);
    expect(names.length).to.be.greaterThan(8);
    const conditional = new Set(['gatehouse_jwks_fetches_total', 'gatehouse_mcp_sessions', 'gatehouse_audit_write_failures_total', 'gatehouse_audit_record_failures_total', ...(t.engine.database.kind === 'postgres' ? [] : ['db_client_connection_count', 'db_client_connection_pending_requests'])]);
    for (const name of names.filter((n) => !conditional.has(n))) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const samples = await prometheus!.query(`{__name__=~"${base}(_count)?"}`);
      expect(samples.length, `${name} is scraped`).to.be.greaterThan(0);
    }
  });

  it('every query of the Grafana dashboard is valid PromQL, and the panels of what ran have data', async () => {
    const dashboard = JSON.parse(await readFile(new URL('../../../docs/observability/gatehouse-dashboard.json', import.meta.url), 'utf8')) as {
      panels: { type: string; title: string; targets?: { expr: string }[] }[];
    };
    const panels = dashboard.panels.filter((panel) => panel.targets?.length);
    expect(panels.length).to.be.greaterThan(12);
    const empty: string[] = [];
    for (const panel of panels) {
      let rows = 0;
      // query() throws on anything Prometheus cannot parse or evaluate.
      for (const target of panel.targets!) rows += (await prometheus!.query(target.expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.*'))).length;
      if (rows === 0) empty.push(panel.title);
    }
    // Only what this run had no occasion for may be empty: no tool failed, no IdP, sessions off.
    expect(empty.sort()).to.deep.equal(['Failing tools', 'JWKS fetches', 'Open MCP sessions']);
  });

  it('the endpoint refuses a scrape without its token', async () => {
    const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.adminKey}` } });
    expect(res.status).to.equal(401);
    expect(await res.text()).to.not.include('gatehouse_');
  });
});
