import { expect } from 'chai';
import { PinoLogger, defineTool, definePlugin, z, type Logger } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine } from '@gatehouse-mcp/engine/testing';

const echo = defineTool({ name: 'echo', description: 'Echo', input: z.object({ text: z.string() }), handler: ({ text }) => text });
const plugins = [communityEdition(), definePlugin({ id: 'x', tools: [echo] })];

/** A pino logger at `level` writing into `lines`. */
function collecting(level: 'info' | 'warn'): { logger: PinoLogger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: new PinoLogger(level, { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

describe('the request log line', () => {
  it('is written once per request at info, and not at all when the level is warn', async () => {
    for (const level of ['info', 'warn'] as const) {
      const { logger, lines } = collecting(level);
      const t = await createTestEngine({ plugins, logger });
      try {
        await t.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      } finally {
        await t.close();
      }
      const calls = lines.filter((line) => line.msg === 'request' && line.method === 'tools/call');
      if (level === 'info') expect(calls).to.have.length(1);
      else expect(lines.filter((line) => line.msg === 'request')).to.deep.equal([]);
    }
  });

  it('is still written to a host logger that cannot say which levels it writes', async () => {
    const written: { fields: Record<string, unknown>; message: string }[] = [];
    const host: Logger = {
      debug: () => undefined,
      info: (fields, message) => void written.push({ fields, message }),
      warn: () => undefined,
      error: () => undefined,
      child: () => host,
    };
    const t = await createTestEngine({ plugins, logger: host });
    try {
      await t.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    } finally {
      await t.close();
    }
    const call = written.find((line) => line.message === 'request' && line.fields.method === 'tools/call');
    expect(call?.fields).to.include({ tool: 'echo', status: 200 });
  });
});
