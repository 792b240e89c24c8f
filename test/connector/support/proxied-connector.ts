import { communityEdition } from '@gatehouse-mcp/engine/oss';
import type { PluginDefinition } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector, type ConnectedConnector } from './connector-process.js';
import { faultyProxy, type FaultyProxy } from './local-servers.js';

/** What each test of a suite set up by {@link proxiedConnector} has. */
export interface ProxiedConnector {
  readonly engine: TestEngine;
  /** The proxy between the connector and the engine: set its `fault` to misbehave. */
  readonly proxy: FaultyProxy;
  /** The real connector process, connected to an SDK client over stdio. */
  readonly connector: ConnectedConnector;
}

/**
 * Register the mocha hooks of a suite whose tests each reach a Community Edition engine serving
 * `plugin` through a real connector process (`--timeout timeoutMs`, an API key) and a faulty proxy:
 * one engine for the suite, a new proxy and connector for each test.
 */
export function proxiedConnector(plugin: PluginDefinition, options: { readonly timeoutMs: number; readonly sessions?: boolean }): ProxiedConnector {
  let engine: TestEngine | undefined;
  let key = '';
  let proxy: FaultyProxy | undefined;
  let connector: ConnectedConnector | undefined;
  before(async () => {
    engine = await createTestEngine({ plugins: [communityEdition(), plugin], connect: false, ...(options.sessions ? { sessions: true } : {}) });
    key = (await engine.createKey()).secret;
  });
  after(() => engine?.close());
  beforeEach(async () => {
    proxy = await faultyProxy(engine!.engine.mcpUrl());
    connector = await connectConnector(['--url', proxy.url, '--timeout', String(options.timeoutMs)], { GATEHOUSE_API_KEY: key });
  });
  afterEach(async () => {
    await connector?.close();
    await proxy?.close();
  });
  return {
    get engine() {
      return engine!;
    },
    get proxy() {
      return proxy!;
    },
    get connector() {
      return connector!;
    },
  };
}
