/**
 * The Gatehouse test kit: a real engine on a real database, served over real HTTP, with a
 * connected MCP client from the official SDK. Plugin authors test with the same kit we do.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ApiKeyStore, createEngine, type Engine, type EngineOptions } from '../core/index.js';
import { testDatabase } from './test-database.js';

export interface TestEngineOptions extends Omit<EngineOptions, 'database'> {
  /** The tenant of the default API key and client. Default: a fresh random tenant. */
  readonly tenant?: string;
  /** Connect a client with a fresh API key of `tenant` (needs an edition that accepts API keys). Default true. */
  readonly connect?: boolean;
  /** Use this database instead of the per-process test database. */
  readonly database?: EngineOptions['database'];
}

export interface ConnectOptions {
  /** Sent as `Authorization: Bearer …`. */
  readonly token?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Connect to this tenant's URL (`/t/<tenant>/api/mcp`) instead of the shared endpoint. */
  readonly tenant?: string;
}

export interface TestEngine {
  readonly engine: Engine;
  /** Base URL of the server, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly tenant: string;
  /** An API key of `tenant` (when `connect` is on). */
  readonly apiKey: string;
  /** An MCP client connected with `apiKey` (when `connect` is on). */
  readonly client: Client;
  /** Create an API key (scopes default to `mcp`). */
  createKey(options?: { tenant?: string; name?: string; scopes?: string[]; expiresAt?: Date }): Promise<{ id: string; secret: string }>;
  /** Connect another MCP client. */
  connect(options?: ConnectOptions): Promise<Client>;
  /** Close every client and the engine. */
  close(): Promise<void>;
}

/** A random tenant id, so tests sharing a database never see each other's data. */
export function uniqueTenant(prefix = 'test'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export async function createTestEngine(options: TestEngineOptions): Promise<TestEngine> {
  const { tenant = uniqueTenant(), connect = true, database, ...engineOptions } = options;
  const engine = await createEngine({
    logLevel: 'silent',
    ...engineOptions,
    database: database ?? { knex: await testDatabase() },
  });
  const clients: Client[] = [];
  try {
    const { url } = await engine.listen({ host: '127.0.0.1', port: 0 });
    const keys = engine.resolve(ApiKeyStore);
    const createKey: TestEngine['createKey'] = async (keyOptions = {}) => {
      const { key, secret } = await keys.create({
        tenant: keyOptions.tenant ?? tenant,
        name: keyOptions.name ?? 'test key',
        scopes: keyOptions.scopes,
        expiresAt: keyOptions.expiresAt,
      });
      return { id: key.id, secret };
    };
    const connectClient: TestEngine['connect'] = async (connectOptions = {}) => {
      const headers: Record<string, string> = { ...connectOptions.headers };
      if (connectOptions.token) headers.authorization = `Bearer ${connectOptions.token}`;
      const client = new Client({ name: 'gatehouse-test-kit', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(engine.mcpUrl(connectOptions.tenant)), { requestInit: { headers } });
      await client.connect(transport);
      clients.push(client);
      return client;
    };
    let apiKey = '';
    let client: Client | undefined;
    if (connect) {
      apiKey = (await createKey()).secret;
      client = await connectClient({ token: apiKey });
    }
    return {
      engine,
      url,
      tenant,
      apiKey,
      get client(): Client {
        if (!client) throw new Error('createTestEngine({ connect: false }) has no default client; use connect().');
        return client;
      },
      createKey,
      connect: connectClient,
      async close() {
        await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
        await engine.close();
      },
    };
  } catch (error) {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await engine.close();
    throw error;
  }
}

export { testDatabase, closeTestDatabase, freshDatabase } from './test-database.js';
export { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, testPrincipal } from './fakes.js';
