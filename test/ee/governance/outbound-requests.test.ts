/**
 * URLs that a tenant's admin configures (the approval webhook, an identity provider's issuer and key
 * set) must not make the engine send requests to a cloud metadata service or to the host itself:
 * the admin API accepted them, and the webhook's test button reported what such a service answered.
 */
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IdpProviderStore, JwksCache, KeySourceError, OutboundRefusedError } from '@gatehouse-mcp/engine/ee';
import { outboundFetch } from '../../../src/plugins/ee/outbound-fetch.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

/** Where cloud metadata services answer, in the forms a URL can spell it. */
const METADATA_URLS = [
  'http://169.254.169.254/latest/meta-data/',
  'http://2852039166/latest/meta-data/',
  'http://0xa9.0xfe.0xa9.0xfe/',
  'http://[::ffff:169.254.169.254]/',
  'http://[fe80::1]/',
  'http://[fd00:ec2::254]/',
  'http://100.100.100.200/',
];

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

describe('EE outbound requests to tenant-configured URLs', function () {
  this.timeout(30_000);
  let t: GovernanceTestEngine;

  before(async () => {
    t = await governanceEngine();
  });
  after(async () => {
    await t?.close();
  });

  it('the admin API refuses an approval webhook on a cloud metadata address, in every spelling, and keeps none (it accepted them, and its test button posted there)', async () => {
    for (const url of METADATA_URLS) {
      const response = await t.http('PUT', '/api/v1/mcp/approval-webhook', { token: t.adminKey, body: { url } });
      expect(response.status, url).to.equal(400);
      expect(response.body.error.details[0].field).to.equal('url');
    }
    const refused = await t.http('PUT', '/api/v1/mcp/approval-webhook', { token: t.adminKey, body: { url: 'http://[::ffff:169.254.169.254]/' } });
    expect(refused.body.error.details[0].message).to.equal(
      'url must not name ::ffff:a9fe:a9fe (169.254.169.254): a link-local, unspecified, multicast or reserved address (where cloud metadata services answer), which is never reached',
    );
    expect((await t.http('GET', '/api/v1/mcp/approval-webhook', { token: t.adminKey })).body.data).to.equal(null);
  });

  it('the admin API refuses an identity provider whose issuer or key set URL is a cloud metadata address', async () => {
    const issuer = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body: { name: 'metadata', kind: 'custom', issuer: 'https://169.254.169.254/' } });
    expect(issuer.status).to.equal(400);
    expect(issuer.body.error.details).to.deep.include({ field: 'issuer', message: 'Issuer must not name 169.254.169.254: a link-local, unspecified, multicast or reserved address (where cloud metadata services answer), which is never reached.' });
    const keys = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body: { name: 'metadata', kind: 'custom', issuer: 'https://idp.example.com/', jwksUri: 'https://[::ffff:a9fe:a9fe]/keys' } });
    expect(keys.status).to.equal(400);
    expect(keys.body.error.details[0].field).to.equal('jwksUri');
    const listed = await t.http('GET', '/api/v1/mcp/idp-providers', { token: t.adminKey });
    expect((listed.body.data as { name: string }[]).map((idp) => idp.name)).to.not.include('metadata');
  });

  it('a host probing an identity provider whose discovery names a key set on a metadata address can tell the refusal apart: its cause is an OutboundRefusedError, exported from the EE entry (it was not exported)', async () => {
    const { server, port, paths } = await listen((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: `http://127.0.0.1:${port}`, jwks_uri: 'http://169.254.169.254/latest/keys' }));
    });
    try {
      const idp = await t.engine.resolve(IdpProviderStore).create(t.tenant, { kind: 'custom', name: 'Redirected keys', issuer: `http://127.0.0.1:${port}` });
      const thrown = await t.engine.resolve(JwksCache).probe(idp).then(
        () => expect.fail('the key set on a metadata address was fetched'),
        (error: unknown) => error,
      );
      expect(thrown).to.be.instanceOf(KeySourceError);
      const cause = (thrown as Error).cause;
      expect(cause).to.be.instanceOf(OutboundRefusedError);
      expect((cause as Error).name).to.equal('OutboundRefusedError');
      expect((cause as Error).message).to.contain('169.254.169.254');
      expect(paths).to.deep.equal(['/.well-known/openid-configuration']);
    } finally {
      await close(server);
    }
  });

  it('never connects to the unspecified address, which reaches the host itself (0.0.0.0, [::]); the same server is reached by its own address', async () => {
    const { server, port, paths } = await listen((_req, res) => res.end('{}'));
    try {
      for (const url of [`http://0.0.0.0:${port}/secret`, `http://[::]:${port}/secret`, ...METADATA_URLS]) {
        const error = await outboundFetch(url).then(() => undefined, (e: unknown) => e);
        expect(error, url).to.be.instanceOf(OutboundRefusedError);
      }
      expect(paths).to.deep.equal([]);
      const reached = await outboundFetch(`http://127.0.0.1:${port}/allowed`);
      expect(reached.status).to.equal(200);
      expect(paths).to.deep.equal(['/allowed']);
    } finally {
      await close(server);
    }
  });

  it('follows no redirect (a forged receiver cannot send the request on to another address), and reads at most 1 MiB of an answer', async () => {
    const { server, port, paths } = await listen((req, res) => {
      if (req.url === '/moved') {
        res.writeHead(302, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/elsewhere` });
        res.end();
      } else res.end('x'.repeat(2 * 1024 * 1024));
    });
    try {
      const moved = await outboundFetch(`http://127.0.0.1:${port}/moved`, { method: 'POST', body: '{}' });
      expect(moved.status).to.equal(302);
      expect(paths).to.deep.equal(['/moved']);
      const error = (await outboundFetch(`http://127.0.0.1:${port}/big`).then(() => undefined, (e: unknown) => e)) as Error;
      expect(error.message).to.equal(`the answer of http://127.0.0.1:${port} is larger than 1048576 bytes`);
    } finally {
      await close(server);
    }
  });

  it('gives up when its signal fires, with the signal\'s reason, as fetch does (a TimeoutError)', async () => {
    const { server, port } = await listen(() => undefined);
    try {
      const started = Date.now();
      const error = (await outboundFetch(`http://127.0.0.1:${port}/slow`, { signal: AbortSignal.timeout(200) }).then(() => undefined, (e: unknown) => e)) as Error;
      expect(error.name).to.equal('TimeoutError');
      expect(Date.now() - started).to.be.below(5_000);
    } finally {
      server.closeAllConnections();
      await close(server);
    }
  });
});
