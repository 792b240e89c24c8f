/**
 * `npm run fleet`: three engine instances on one PostgreSQL behind HAProxy, to try by hand.
 * Prints the balancer URL and keys; Ctrl-C stops everything and drops the fleet's database.
 */
import { startFleet } from './fleet-harness.js';

const instances = Number(process.env.FLEET_INSTANCES ?? 3);
const fleet = await startFleet({ instances, serverUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
const agent = await fleet.agent('fleet-agent');
process.stdout.write(
  [
    `Fleet of ${fleet.instances.length} instances behind HAProxy (round-robin, no stickiness), database ${fleet.databaseName}.`,
    '',
    `  Balancer      ${fleet.url}`,
    `  MCP endpoint  ${fleet.mcpUrl}`,
    `  Admin UI      ${fleet.url}/admin`,
    `  Instances     ${fleet.instances.map((instance) => instance.url).join('  ')}`,
    `  Logs          ${fleet.logDir}`,
    '',
    `  Agent key (tools echo and wait):  ${agent.key}`,
    `  Admin key (admin API and UI):     ${fleet.adminKey}`,
    '',
    'Try:',
    `  curl -s ${fleet.mcpUrl} -H 'authorization: Bearer ${agent.key}' -H 'content-type: application/json' -H 'accept: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'`,
    '',
    'Ctrl-C stops the fleet.',
    '',
  ].join('\n'),
);

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('Stopping the fleet…\n');
  fleet.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
