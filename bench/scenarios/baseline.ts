import { startServer } from '../harness/processes.js';
import { PROTOCOL_VERSION } from '../harness/protocol.js';
import type { ScenarioModule } from './scenario.js';

const MCP_HEADERS = { 'mcp-protocol-version': PROTOCOL_VERSION };

/** The physical limit: a bare Node handler. */
export const limitScenario: ScenarioModule = {
  names: ['limit'],
  unavailable: async () => undefined,
  async start(_databases, options) {
    const server = await startServer({ kind: 'limit' }, options);
    return { scenarios: [{ name: 'limit', url: server.url, headers: MCP_HEADERS, server }], stop: async () => void (await server.stop()) };
  },
};

/** The SDK's own stateless server. */
export const sdkScenario: ScenarioModule = {
  names: ['sdk'],
  unavailable: async () => undefined,
  async start(_databases, options) {
    const server = await startServer({ kind: 'sdk' }, options);
    return { scenarios: [{ name: 'sdk', url: server.url, headers: MCP_HEADERS, server }], stop: async () => void (await server.stop()) };
  },
};

/** Gatehouse Community Edition with the OpenTelemetry SDK registered and an exporter that drops spans. */
export const ceOtelScenario: ScenarioModule = {
  names: ['ce-otel'],
  unavailable: async () => undefined,
  async start(databases, options) {
    const server = await startServer({ kind: 'ce', database: await databases.create('ce_otel'), createKey: true, tracing: true }, options);
    const headers = { ...MCP_HEADERS, authorization: `Bearer ${server.credentials.apiKey}` };
    return { scenarios: [{ name: 'ce-otel', url: server.url, headers, server }], stop: async () => void (await server.stop()) };
  },
};

/** Gatehouse Community Edition with a tenant API key. */
export const ceScenario: ScenarioModule = {
  names: ['ce'],
  unavailable: async () => undefined,
  async start(databases, options) {
    const server = await startServer({ kind: 'ce', database: await databases.create('ce'), createKey: true }, options);
    const headers = { ...MCP_HEADERS, authorization: `Bearer ${server.credentials.apiKey}` };
    return { scenarios: [{ name: 'ce', url: server.url, headers, server }], stop: async () => void (await server.stop()) };
  },
};
