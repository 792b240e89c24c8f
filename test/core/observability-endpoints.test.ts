import { expect } from 'chai';
import { AuditSink, Authenticator, BootError, Policy, ReadinessCheck, createEngine, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, createTestEngine, freshDatabase, testDatabase, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { PrometheusRegistry } from '../../src/core/telemetry/prometheus-registry.js';
import { TenantLabels } from '../../src/core/telemetry/tenant-labels.js';

const echo = definePlugin({ id: 'echo', tools: [defineTool({ name: 'echo', description: 'Echoes.', input: z.object({ text: z.string() }), handler: ({ text }) => text })] });

function recordingEdition(audit: RecordingAuditSink, tenant: string, checks: ReadinessCheck[] = []) {
  return definePlugin({
    id: 'recording-edition',
    register({ bind }) {
      bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ 'token-of-reader-1234': testPrincipal({ tenant }) }));
      bind(Policy).toConstantValue(new RecordingPolicy());
      bind(AuditSink).toConstantValue(audit);
      for (const check of checks) bind(ReadinessCheck).toConstantValue(check);
    },
  });
}

async function body(response: Response): Promise<any> {
  return response.json();
}

describe('health: /healthz and /readyz with reasons', () => {
  const audit = new RecordingAuditSink();
  let listenUp = true;
  let t: TestEngine;
  before(async () => {
    const tenant = uniqueTenant('health');
    const queue: ReadinessCheck = { name: 'queue', check: async () => (listenUp ? { ok: true } : { ok: false, reason: 'The job queue connection is down.' }) };
    const broken: ReadinessCheck = { name: 'upstream', check: async () => { throw new Error('socket hang up at 10.0.0.7'); } };
    t = await createTestEngine({ plugins: [recordingEdition(audit, tenant, [queue, broken]), echo], tenant, connect: false });
  });
  after(() => t?.close());

  it('/healthz is alive and says how this instance hears of changes', async () => {
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).to.equal(200);
    const health = await body(res);
    expect(health.status).to.equal('ok');
    expect(health.changes.status).to.be.oneOf(['listening', 'single-instance']);
  });

  it('/readyz names each check; a failing or throwing contributed check makes it 503 with a reason and no internals', async () => {
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).to.equal(503);
    expect(res.headers.get('retry-after')).to.equal('5');
    const { status, checks } = await body(res);
    expect(status).to.equal('not_ready');
    expect(checks.database.ok).to.equal(true);
    expect(checks.migrations).to.deep.equal({ ok: true });
    expect(checks.audit).to.deep.equal({ ok: true });
    expect(checks.listen.ok).to.equal(true);
    expect(checks.queue).to.deep.equal({ ok: true });
    expect(checks.upstream).to.deep.equal({ ok: false, reason: 'The upstream check failed.' });
  });

  it('reports a full audit buffer and a contributed check that fails', async () => {
    audit.accept = false;
    listenUp = false;
    try {
      const { checks } = await body(await fetch(`${t.url}/readyz`));
      expect(checks.audit.ok).to.equal(false);
      expect(checks.audit.reason).to.match(/not accepting events/);
      expect(checks.queue).to.deep.equal({ ok: false, reason: 'The job queue connection is down.' });
    } finally {
      audit.accept = true;
      listenUp = true;
    }
  });

  it('is 200 ready when every check passes', async () => {
    const engine = await createEngine({ plugins: [communityEdition(), echo], database: { knex: await testDatabase() }, logLevel: 'silent' });
    try {
      const res = await engine.fetch(new Request('http://localhost/readyz'));
      expect(res.status).to.equal(200);
      const { status, checks } = (await res.json()) as any;
      expect(status).to.equal('ready');
      expect(Object.keys(checks)).to.deep.equal(['database', 'migrations', 'listen', 'audit']);
      expect(checks.listen.ok).to.equal(true);
    } finally {
      await engine.close();
    }
  });

  it('names pending migrations on a database that fell behind the running engine', async () => {
    const db = await freshDatabase();
    // An engine with migrate: false refuses to boot on a database that is behind; here it falls behind afterwards.
    await (await createEngine({ plugins: [communityEdition()], database: { knex: db.knex }, logLevel: 'silent' })).close();
    const engine = await createEngine({ plugins: [communityEdition()], database: { knex: db.knex }, migrate: false, logLevel: 'silent' });
    await db.knex('gatehouse_migrations_core').del();
    try {
      const res = await engine.fetch(new Request('http://localhost/readyz'));
      expect(res.status).to.equal(503);
      const { checks } = (await res.json()) as any;
      expect(checks.database.ok).to.equal(true);
      expect(checks.migrations.ok).to.equal(false);
      expect(checks.migrations.reason).to.match(/^\d+ migration\(s\) not applied: core\/\S+/);
      expect(checks.migrations.reason).to.include('gatehouse migrate');
    } finally {
      await engine.close();
      await db.close();
    }
  });
});

describe('metrics endpoint: off by default, behind its own token or on its own port', () => {
  it('is not served without the metrics option', async () => {
    const t = await createTestEngine({ plugins: [communityEdition(), echo] });
    try {
      expect((await fetch(`${t.url}/metrics`)).status).to.equal(404);
      expect(t.engine.metricsUrl()).to.equal(undefined);
    } finally {
      await t.close();
    }
  });

  it('on a port of its own: served there without a token, not on the engine', async () => {
    const t = await createTestEngine({ plugins: [communityEdition(), echo], metrics: { port: 0 } });
    try {
      await t.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      const url = t.engine.metricsUrl()!;
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(new URL(url).port).to.not.equal(new URL(t.url).port);
      const res = await fetch(url);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      expect(text).to.include('# TYPE mcp_server_operation_duration_seconds histogram');
      expect(text).to.match(/^gatehouse_tool_calls_total\{gen_ai_tool_name="echo",gatehouse_decision="allowed",gatehouse_outcome="success"\} 1$/m);
      expect((await fetch(`${t.url}/metrics`)).status).to.equal(404);
      expect((await fetch(url.replace('/metrics', '/other'))).status).to.equal(404);
    } finally {
      await t.close();
    }
    // Closing the engine closes its metrics listener.
    expect(await fetch(t.engine.metricsUrl()!).then(() => 'open', () => 'closed')).to.equal('closed');
  });

  it('refuses a metrics option with neither token nor port, or a short token', async () => {
    for (const metrics of [{}, { token: 'short' }, { port: -1 }]) {
      let error: unknown;
      try {
        await createEngine({ plugins: [communityEdition()], database: { knex: await testDatabase() }, logLevel: 'silent', metrics });
      } catch (caught) {
        error = caught;
      }
      expect(error, JSON.stringify(metrics)).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/^metrics/);
      expect(error).to.not.be.instanceOf(BootError);
    }
  });
});

describe('the Prometheus exposition and the tenant label bound', () => {
  it('renders counters, gauges and histograms in the text format, escaping label values', async () => {
    const registry = new PrometheusRegistry();
    const meter = registry.getMeter();
    meter.createCounter('gatehouse.things', { description: 'Things.' }).add(2, { 'gatehouse.tenant': 'a"b\\c\nd' });
    const histogram = meter.createHistogram('op.duration', { unit: 's', description: 'Durations.', advice: { explicitBucketBoundaries: [0.1, 1] } });
    for (const value of [0.05, 0.5, 0.7, 3]) histogram.record(value, { m: 'x' });
    meter.createObservableGauge('queue.depth', { description: 'Depth.' }).addCallback((result) => result.observe(7));
    expect(await registry.render()).to.equal(
      [
        '# HELP gatehouse_things_total Things.',
        '# TYPE gatehouse_things_total counter',
        'gatehouse_things_total{gatehouse_tenant="a\\"b\\\\c\\nd"} 2',
        '# HELP op_duration_seconds Durations.',
        '# TYPE op_duration_seconds histogram',
        'op_duration_seconds_bucket{m="x",le="0.1"} 1',
        'op_duration_seconds_bucket{m="x",le="1"} 3',
        'op_duration_seconds_bucket{m="x",le="+Inf"} 4',
        'op_duration_seconds_sum{m="x"} 4.25',
        'op_duration_seconds_count{m="x"} 4',
        '# HELP queue_depth Depth.',
        '# TYPE queue_depth gauge',
        'queue_depth 7',
        '',
      ].join('\n'),
    );
  });

  it('labels at most N tenants, the busiest, and drops the series of a tenant that falls out', () => {
    const evicted: string[] = [];
    const labels = new TenantLabels(2, (tenant) => evicted.push(tenant));
    expect(labels.label('a')).to.equal('a');
    expect(labels.label('b')).to.equal('b');
    expect(labels.label('c')).to.equal('_other');
    expect(labels.label('a')).to.equal('a');
    // c has now been seen twice, b once: c takes b's place.
    expect(labels.label('c')).to.equal('c');
    expect(evicted).to.deep.equal(['b']);
    expect(labels.label('b')).to.equal('_other');
    expect(new TenantLabels(0).label('a')).to.equal('_other');
  });
});
