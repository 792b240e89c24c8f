import { expect } from 'chai';
import { AuditSink, Authenticator, DependencyUnavailableError, Policy, ToolError, definePlugin, defineTool, toolResult, z } from '@gatehouse-mcp/engine';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';

const tenant = uniqueTenant();
const reader = testPrincipal({ tenant, id: 'reader', label: 'Reader', attributes: { grants: ['tickets:read'] } });
const audit = new RecordingAuditSink();
const policy = new RecordingPolicy((principal, request) => {
  // A policy with a bug, and one whose store is down, when a call is about to run.
  if (request.attempt && request.permission === 'tickets:glitch') throw new TypeError("Cannot read properties of undefined (reading 'roles') at policy.ts:12");
  if (request.attempt && request.permission === 'tickets:outage') throw new DependencyUnavailableError('The role store is unavailable.');
  return ((principal.attributes.grants as string[]) ?? []).includes(request.permission ?? '');
});
const authenticator = new StaticTokenAuthenticator({ 'reader-token': reader });

/** A governance plugin made of the test kit's recording fakes, standing in for an edition. */
const recordingEdition = definePlugin({
  id: 'recording-edition',
  register({ bind }) {
    bind(Authenticator).toConstantValue(authenticator);
    bind(Policy).toConstantValue(policy);
    bind(AuditSink).toConstantValue(audit);
  },
});

const read = defineTool({ name: 'tickets.peek', description: 'Reads.', permission: 'tickets:read', input: z.object({ id: z.string() }), handler: ({ id }) => ({ id, seen: true }) });
const write = defineTool({ name: 'tickets.poke', description: 'Writes.', permission: 'tickets:write', input: z.object({}), handler: () => 'poked' });
const complain = defineTool({ name: 'tickets.complain', description: 'Fails visibly.', permission: 'tickets:read', input: z.object({}), handler: () => { throw new ToolError('The ticket system is read-only today.'); } });
const crash = defineTool({ name: 'tickets.crash', description: 'Crashes.', permission: 'tickets:read', input: z.object({ password: z.string() }), handler: () => { throw new Error('secret internal detail at db.ts:42'); } });
const glitch = defineTool({ name: 'tickets.glitch', description: 'Its policy throws.', permission: 'tickets:glitch', input: z.object({}), handler: () => 'ran' });
const outage = defineTool({ name: 'tickets.outage', description: 'Its policy store is down.', permission: 'tickets:outage', input: z.object({}), handler: () => 'ran' });
const rich = defineTool({ name: 'tickets.rich', description: 'Two blocks.', permission: 'tickets:read', input: z.object({}), handler: () => toolResult({ content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] }) });
const typed = defineTool({
  name: 'tickets.typed',
  description: 'Declares an output schema but returns something else.',
  permission: 'tickets:read',
  input: z.object({}),
  output: z.object({ count: z.number() }),
  handler: () => ({ count: 'many' }),
});

describe('the tool-call pipeline: authorize → validate → execute → audit', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({
      plugins: [recordingEdition, definePlugin({ id: 'tickets-fixture', tools: [read, write, complain, crash, rich, typed, glitch, outage] })],
      tenant,
      connect: false,
    });
  });
  after(() => t.close());
  beforeEach(() => {
    audit.events.length = 0;
    audit.accept = true;
  });

  /** A tools/call posted as raw HTTP, for the status and headers a client sees. */
  const rawCall = (name: string, id: number): Promise<Response> =>
    fetch(t.engine.mcpUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer reader-token' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }),
    });

  it('tools/list shows only what the policy allows — the same decision as tools/call', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).to.deep.equal(['tickets.peek', 'tickets.complain', 'tickets.crash', 'tickets.rich', 'tickets.typed']);
    const listed = policy.decisions.filter((d) => d.request.name === 'tickets.poke').at(-1)!;
    expect(listed.decision.allow).to.equal(false);
  });

  it('an allowed call runs and is audited as allowed/success with latency', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const result = await client.callTool({ name: 'tickets.peek', arguments: { id: 'T-1' } });
    expect(result.structuredContent).to.deep.equal({ id: 'T-1', seen: true });
    const event = audit.events.at(-1)!;
    expect(event).to.include({ tenant, action: 'tools/call', target: 'tickets.peek', decision: 'allowed', outcome: 'success' });
    expect(event.principal?.id).to.equal('reader');
    expect(event.arguments).to.deep.equal({ id: 'T-1' });
    expect(event.latencyMs).to.be.a('number');
  });

  it('a denied call is a tool error naming the reason, never runs, and is audited as denied', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const result = await client.callTool({ name: 'tickets.poke', arguments: {} });
    expect(result.isError).to.equal(true);
    expect((result.content as { text: string }[])[0]!.text).to.equal('Permission denied: missing permission tickets:write');
    expect(audit.events.at(-1)).to.include({ target: 'tickets.poke', decision: 'denied', outcome: 'denied' });
  });

  it('a ToolError reaches the caller verbatim and is audited as an error', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const result = await client.callTool({ name: 'tickets.complain', arguments: {} });
    expect(result).to.deep.include({ isError: true, content: [{ type: 'text', text: 'The ticket system is read-only today.' }] });
    expect(audit.events.at(-1)).to.include({ outcome: 'error', reason: 'The ticket system is read-only today.' });
  });

  it('a crashing handler yields a generic error with a request id — no internals — audited as failed', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const result = await client.callTool({ name: 'tickets.crash', arguments: { password: 'hunter2' } });
    const text = (result.content as { text: string }[])[0]!.text;
    expect(result.isError).to.equal(true);
    expect(text).to.match(/^tickets\.crash failed with an internal error \(request [0-9a-f-]{36}\)\.$/);
    expect(text).not.to.include('secret internal detail');
    expect(audit.events.at(-1)).to.include({ outcome: 'failed' });
  });

  it('a result that breaks the declared output schema is reported as a failure, not passed on', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const result = await client.callTool({ name: 'tickets.typed', arguments: {} });
    expect(result.isError).to.equal(true);
    expect((result.content as { text: string }[])[0]!.text).to.match(/internal error/);
    expect(audit.events.at(-1)).to.include({ outcome: 'failed', reason: 'output schema mismatch' });
  });

  it('a policy that threw left the call unaudited: it is audited as refused (the policy could not decide), answered 500 without internals, and never runs', async () => {
    const res = await rawCall('tickets.glitch', 11);
    expect(res.status).to.equal(500);
    const body = (await res.json()) as any;
    expect(body).to.deep.include({ id: 11 });
    expect(body.error.code).to.equal(-32603);
    expect(JSON.stringify(body)).not.to.match(/roles|policy\.ts/);
    expect(audit.events).to.have.length(1);
    expect(audit.events[0]).to.include({ target: 'tickets.glitch', decision: 'denied', outcome: 'refused', reason: 'the policy could not decide: internal error' });
  });

  it('a policy whose store is down left the call unaudited: it is audited as refused, answered 503 with Retry-After, and never runs', async () => {
    const res = await rawCall('tickets.outage', 12);
    expect(res.status).to.equal(503);
    expect(res.headers.get('retry-after')).to.equal('5');
    expect(((await res.json()) as any).error.message).to.equal('The role store is unavailable.');
    expect(audit.events).to.have.length(1);
    expect(audit.events[0]).to.include({ target: 'tickets.outage', decision: 'denied', outcome: 'refused', reason: 'the policy could not decide: a backing service was unavailable' });
  });

  it('a full ToolResult from toolResult() is passed through as is', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const result = await client.callTool({ name: 'tickets.rich', arguments: {} });
    expect(result.content).to.deep.equal([{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }]);
  });

  it('when the audit sink cannot accept events, calls are refused with 503 and not run', async () => {
    audit.accept = false;
    const res = await fetch(t.engine.mcpUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer reader-token' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'tickets.peek', arguments: { id: 'x' } } }),
    });
    expect(res.status).to.equal(503);
    expect(res.headers.get('retry-after')).to.equal('5');
    const body = (await res.json()) as any;
    expect(body.id).to.equal(7);
    expect(body.error.message).to.match(/audit/i);
    expect(audit.events.filter((e) => e.outcome === 'success')).to.have.length(0);
  });

  it('an authentication failure at a tenant URL is audited in that tenant', async () => {
    const res = await fetch(t.engine.mcpUrl(tenant), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer stolen-token' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).to.equal(401);
    expect(audit.events.at(-1)).to.include({ tenant, action: 'authenticate', decision: 'auth-failed', outcome: 'refused', reason: 'Unknown token.' });
  });
});
