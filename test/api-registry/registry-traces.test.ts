import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { communityEdition, apiRegistry } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { callTool, dataOf } from './support/helpers.js';

const document = {
  openapi: '3.1.0',
  info: { title: 'Notes', version: '1' },
  paths: {
    '/notes': {
      post: {
        operationId: 'createNote',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { text: { type: 'string' } } } } } },
        responses: { '201': { description: 'Created' } },
      },
    },
  },
};

describe('API registry dispatch in traces: the agent\'s trace continues into the host API', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const traceparents: (string | undefined)[] = [];
  let upstream: http.Server;
  let t: TestEngine;

  before(async () => {
    provider.register();
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        traceparents.push(req.headers.traceparent as string | undefined);
        res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":1}');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    t = await createTestEngine({
      plugins: [communityEdition(), apiRegistry({ id: 'notes', documents: [{ source: document }], dispatch: { baseUrl: base, serviceCredential: 'host-service-secret' } })],
    });
  });
  after(async () => {
    await t?.close();
    upstream?.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('a registry call is a client span under the handler, and the host API receives its traceparent', async () => {
    exporter.reset();
    expect(dataOf(await callTool(t.client, 'notes.call', { operationId: 'createNote', body: { text: 'private note text' } })).status).to.equal(201);
    const spans = exporter.getFinishedSpans();
    const dispatch = spans.find((span) => span.name === 'gatehouse.registry.dispatch')!;
    const handler = spans.find((span) => span.name === 'gatehouse.handler')!;
    expect(dispatch.kind).to.equal(SpanKind.CLIENT);
    expect(dispatch.attributes).to.include({ 'gatehouse.registry.operation': 'createNote', 'http.request.method': 'POST' });
    expect(dispatch.parentSpanContext?.spanId).to.equal(handler.spanContext().spanId);
    const { traceId, spanId } = dispatch.spanContext();
    expect(traceparents.at(-1)).to.equal(`00-${traceId}-${spanId}-01`);
    expect(spans.find((span) => span.name === 'tools/call notes.call')!.spanContext().traceId).to.equal(traceId);
    const recorded = JSON.stringify(spans.map((span) => span.attributes));
    expect(recorded).to.not.include('private note text');
    expect(recorded).to.not.include('host-service-secret');
  });
});
