// Runs one documentation example inside a network namespace of its own (so the ports it documents
// are free), then reports what a user would see: whether its top level completed, what it printed,
// which ports it listens on and what they answer. Plain JavaScript: it runs with plain Node from the
// project the package was installed into, so every import resolves to the installed package.
//
//   node run-example.mjs <example.js>
//   EXAMPLE_CALL='{"url":…,"token":…,"tool":…,"arguments":…}'  also calls that tool with the SDK client
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const report = (result) => {
  process.stdout.write(`\nEXAMPLE-REPORT ${JSON.stringify(result)}\n`);
  process.exit(result.error ? 1 : 0);
};
process.on('uncaughtException', (error) => report({ error: String(error?.stack ?? error) }));
process.on('unhandledRejection', (error) => report({ error: String(error?.stack ?? error) }));

/** The TCP ports something listens on in this network namespace (which only the example uses). */
function listeningPorts() {
  const ports = new Set();
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A') ports.add(parseInt(fields[1].split(':').at(-1), 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

const status = async (url) => {
  try {
    return (await fetch(url)).status;
  } catch (error) {
    return String(error.cause?.code ?? error.message);
  }
};

try {
  await import(pathToFileURL(process.argv[2]).href);
  const ports = listeningPorts();
  const answers = {};
  for (const port of ports) {
    answers[port] = { healthz: await status(`http://127.0.0.1:${port}/healthz`), metrics: await status(`http://127.0.0.1:${port}/metrics`) };
  }
  let call;
  if (process.env.EXAMPLE_CALL) {
    const { url, token, tool, arguments: args } = JSON.parse(process.env.EXAMPLE_CALL);
    const client = new Client({ name: 'docs-example', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    call = await client.callTool({ name: tool, arguments: args });
    await client.close();
  }
  report({ completed: true, ports, answers, call });
} catch (error) {
  report({ error: String(error?.stack ?? error) });
}
