import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../support/prometheus.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface OtlpSpan {
  readonly name: string;
  readonly parentSpanId?: string;
  readonly spanId: string;
}

/** The documented ten-line setup, run as written, sends the engine's spans to an OTLP collector. */
describe('docs/observability.md: the ten-line OpenTelemetry setup', function () {
  this.timeout(90_000);

  it('runs verbatim and exports the spans of a request over OTLP', async () => {
    const doc = await readFile(path.join(ROOT, 'docs/observability.md'), 'utf8');
    const from = doc.indexOf('A ten-line setup');
    const snippet = /```ts\n([\s\S]*?)```/.exec(doc.slice(from))![1]!;
    expect(snippet.split('\n').filter((line) => line.trim()).length).to.be.at.most(10);

    // An OTLP/HTTP collector that keeps what it receives.
    const received: { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[] }[] = [];
    const collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.url === '/v1/traces') received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;

    // The snippet lives in the package (so it imports the engine by name) and runs in a scratch directory.
    const file = path.join(ROOT, 'test', `.otel-setup-${randomBytes(4).toString('hex')}.ts`);
    const work = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-otel-setup-'));
    await writeFile(file, snippet);
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, TSX_TSCONFIG_PATH: path.join(ROOT, 'tsconfig.json') };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, ['--conditions=gatehouse-source', '--import', pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href, file], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      while (!(await fetch(`${base}/healthz`).then((res) => res.ok, () => false))) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the setup did not start:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const res = await fetch(`${base}/api/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(res.status).to.equal(401);
      child.kill('SIGTERM');
      expect(await exited, stderr).to.equal(0);

      const resources = received.flatMap((body) => body.resourceSpans);
      expect(resources.length, `spans received (stderr: ${stderr.slice(-500)})`).to.be.greaterThan(0);
      const service = resources[0]!.resource.attributes.find((attribute) => attribute.key === 'service.name')?.value.stringValue;
      expect(service).to.equal('gatehouse');
      const spans = resources.flatMap((resource) => resource.scopeSpans.filter((scope) => scope.scope.name === '@gatehouse-mcp/engine').flatMap((scope) => scope.spans));
      const server = spans.find((span) => span.name === 'tools/list');
      expect(server, JSON.stringify(spans.map((span) => span.name))).to.not.equal(undefined);
      const authenticate = spans.find((span) => span.name === 'gatehouse.authenticate');
      expect(authenticate?.parentSpanId).to.equal(server!.spanId);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(file, { force: true });
      await rm(work, { recursive: true, force: true });
      await new Promise<void>((resolve) => collector.close(() => resolve()));
    }
  });
});
