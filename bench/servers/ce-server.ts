import { ApiKeyStore, createEngine } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { benchPlugin, engineDatabase } from './bench-plugin.js';
import { runServer, serverConfig } from './child.js';
import { startTracing } from './tracing.js';

/** Gatehouse Community Edition: API key, allow-all policy, no-op audit. */
const config = serverConfig('ce');

runServer(async () => {
  const tracing = config.tracing ? startTracing() : undefined;
  const engine = await createEngine({
    plugins: [communityEdition(), benchPlugin()],
    database: engineDatabase(config.database),
    logLevel: 'warn',
  });
  try {
    const { url } = await engine.listen({ host: '127.0.0.1', port: config.port ?? 0 });
    const credentials: Record<string, string> = {};
    if (config.createKey) {
      const { secret } = await engine.resolve(ApiKeyStore).create({ tenant: 'bench-ce', name: 'bench', scopes: ['mcp'] });
      credentials.apiKey = secret;
    }
    return { url: `${url}/api/mcp`, credentials, close: async () => {
      await engine.close();
      await tracing?.shutdown();
    } };
  } catch (error) {
    await engine.close();
    throw error;
  }
});
