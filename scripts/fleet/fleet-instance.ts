/**
 * One engine instance of the fleet: the Enterprise edition (or the Community Edition with
 * `FLEET_EDITION=community`), sessions on unless `FLEET_SESSIONS=off`, a small tool set, serving on
 * a free loopback port. Prints `{"url": …}` once it serves; stops cleanly on SIGTERM.
 */
import { createEngine } from '@gatehouse-mcp/engine';
import { fleetStreamFixtures, fleetTools } from './fleet-tools.js';
import { editionPlugin } from './fleet-edition.js';

const databaseUrl = process.env.FLEET_DATABASE_URL;
const publicUrl = process.env.FLEET_PUBLIC_URL;
if (!databaseUrl || !publicUrl) {
  process.stderr.write('fleet-instance needs FLEET_DATABASE_URL and FLEET_PUBLIC_URL.\n');
  process.exit(2);
}

const engine = await createEngine({
  plugins: [editionPlugin(process.env.FLEET_EDITION === 'community' ? 'community' : 'enterprise'), fleetTools, ...(process.env.FLEET_STREAM_FIXTURES === 'on' ? [fleetStreamFixtures] : [])],
  database: { url: databaseUrl },
  publicUrl,
  // Reached through the balancer by its address, and directly by the tests.
  allowedHosts: ['127.0.0.1', 'localhost'],
  sessions: process.env.FLEET_SESSIONS === 'off' ? false : true,
  logLevel: (process.env.FLEET_LOG_LEVEL as 'warn' | undefined) ?? 'warn',
});
const { url } = await engine.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ url }) + '\n');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    engine.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`could not stop cleanly: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  });
}
