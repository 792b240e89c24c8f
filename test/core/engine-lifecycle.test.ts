import http from 'node:http';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ApiKeyStore, createEngine, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, testDatabase, uniqueTenant } from '@gatehouse-mcp/engine/testing';

/** Latches for the held call: the test knows when it started and decides when it ends — no sleeps. */
let holdStarted: () => void = () => {};
let releaseHold: () => void = () => {};
const held = defineTool({
  name: 'held',
  description: 'Answers when the test releases it.',
  input: z.object({}),
  handler: async () => {
    const released = new Promise<void>((resolve) => (releaseHold = resolve));
    holdStarted();
    await released;
    return 'released';
  },
});
const slow = defineTool({
  name: 'slow',
  description: 'Answers after a while.',
  input: z.object({ ms: z.number().int().max(5000) }),
  handler: async ({ ms }) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return `waited ${ms} ms`;
  },
});
const aborted: string[] = [];
/** Called when a `patient` call starts. */
let patientStarted: (() => void) | undefined;
const patient = defineTool({
  name: 'patient',
  description: 'Waits until told to stop, then notes why.',
  input: z.object({ label: z.string() }),
  handler: ({ label }, ctx) =>
    new Promise<string>((resolve) => {
      patientStarted?.();
      const timer = setTimeout(() => resolve('finished'), 5000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        aborted.push(label);
        resolve('stopped');
      });
    }),
});
const tools = definePlugin({ id: 'slow', tools: [slow, patient, held] });

describe('engine lifecycle and mounting', () => {
  it('close() lets an in-flight call finish, then refuses new work', async () => {
    const t = await createTestEngine({ plugins: [communityEdition(), tools] });
    const started = new Promise<void>((resolve) => (holdStarted = resolve));
    const pending = t.client.callTool({ name: 'held', arguments: {} });
    await started;
    let closed = false;
    const closing = t.engine.close().then(() => (closed = true));
    // close() is waiting for the call: release it only now, and the call still gets its answer.
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).to.equal(false);
    releaseHold();
    const result = await pending;
    expect(result.content).to.deep.equal([{ type: 'text', text: 'released' }]);
    await closing;
    const after = await fetch(t.engine.mcpUrl(), { method: 'POST' }).catch((error: unknown) => error);
    expect(after).to.be.instanceOf(Error);
    await t.close();
  });

  it('serves through engine.fetch (Web Request → Response) under a base path, without listening', async () => {
    const engine = await createEngine({
      plugins: [communityEdition(), tools],
      database: { knex: await testDatabase() },
      publicUrl: 'https://mcp.example.com',
      basePath: '/gatehouse',
      logLevel: 'silent',
    });
    try {
      const tenant = uniqueTenant();
      const { secret } = await engine.resolve(ApiKeyStore).create({ tenant, name: 'web' });
      expect(engine.mcpUrl()).to.equal('https://mcp.example.com/gatehouse/api/mcp');
      const request = (body: unknown) =>
        new Request('https://mcp.example.com/gatehouse/api/mcp', {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${secret}` },
          body: JSON.stringify(body),
        });
      const init = await engine.fetch(request({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }));
      expect(init.status).to.equal(200);
      const initBody = (await init.json()) as any;
      expect(initBody.result.protocolVersion).to.equal('2025-11-25');
      expect(initBody.result.capabilities).to.have.property('tools');
      const called = await engine.fetch(request({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { ms: 1 } } }));
      expect(((await called.json()) as any).result.content[0].text).to.equal('waited 1 ms');
      const outside = await engine.fetch(new Request('https://mcp.example.com/api/mcp', { method: 'POST' }));
      expect(outside.status).to.equal(404);
    } finally {
      await engine.close();
    }
  });

  it('mounts its Node handler inside a host’s own http server next to the host’s routes', async () => {
    const engine = await createEngine({ plugins: [communityEdition(), tools], database: { knex: await testDatabase() }, basePath: '/mcp-gw', logLevel: 'silent' });
    const server = http.createServer((req, res) => {
      if (req.url?.startsWith('/mcp-gw/')) return engine.nodeHandler(req, res);
      res.end('host page');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const tenant = uniqueTenant();
      const { secret } = await engine.resolve(ApiKeyStore).create({ tenant, name: 'node' });
      const client = new Client({ name: 'host-test', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp-gw/api/mcp`), { requestInit: { headers: { authorization: `Bearer ${secret}` } } }));
      const { tools: listed } = await client.listTools();
      expect(listed.map((x) => x.name)).to.deep.equal(['slow', 'patient', 'held']);
      await client.close();
      expect(await (await fetch(`${base}/`)).text()).to.equal('host page');
    } finally {
      server.close();
      await engine.close();
    }
  });

  it('mounts in an Express app behind express.json(), under a base path', async () => {
    const engine = await createEngine({ plugins: [communityEdition(), tools], database: { knex: await testDatabase() }, basePath: '/gw', logLevel: 'silent' });
    const app = express();
    app.use(express.json());
    app.get('/', (_req, res) => void res.send('host home'));
    app.all('/gw/*splat', engine.nodeHandler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const { secret } = await engine.resolve(ApiKeyStore).create({ tenant: uniqueTenant(), name: 'express' });
      const client = new Client({ name: 'express-test', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/gw/api/mcp`), { requestInit: { headers: { authorization: `Bearer ${secret}` } } }));
      const result = await client.callTool({ name: 'slow', arguments: { ms: 1 } });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'waited 1 ms' }]);
      await client.close();
      expect(await (await fetch(`${base}/`)).text()).to.equal('host home');
    } finally {
      server.close();
      await engine.close();
    }
  });

  it("a client that disconnects mid-call aborts the handler's signal", async () => {
    const t = await createTestEngine({ plugins: [communityEdition(), tools] });
    try {
      const controller = new AbortController();
      const pending = fetch(t.engine.mcpUrl(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${t.apiKey}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'patient', arguments: { label: 'disconnect' } } }),
        signal: controller.signal,
      }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
      controller.abort();
      await pending;
      for (let i = 0; i < 50 && !aborted.includes('disconnect'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(aborted).to.include('disconnect');
    } finally {
      await t.close();
    }
  });

  it('a call still running when the drain times out has its signal aborted, and close() returns', async () => {
    const t = await createTestEngine({ plugins: [communityEdition(), tools], drainTimeoutMs: 200 });
    // Closed once the call runs: a close before the request arrived refused it instead (on a loaded
    // machine a fixed wait was not always long enough), and its rejection went unhandled meanwhile.
    const running = new Promise<void>((resolve) => (patientStarted = resolve));
    const pending = t.client.callTool({ name: 'patient', arguments: { label: 'drain' } });
    await running;
    patientStarted = undefined;
    const started = Date.now();
    await t.engine.close();
    expect(Date.now() - started).to.be.lessThan(3000);
    expect(aborted).to.include('drain');
    expect((await pending).content).to.deep.equal([{ type: 'text', text: 'stopped' }]);
    await t.close();
  });
});
