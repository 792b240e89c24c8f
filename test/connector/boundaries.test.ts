import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../src/connector/', import.meta.url));
const ALLOWED = [/^node:/, /^@modelcontextprotocol\/sdk\//, /^openid-client$/, /^\.\/[a-z0-9-]+\.js$/];

describe('connector: ships alone', () => {
  it('imports only node built-ins, the MCP SDK, openid-client and its own modules', () => {
    const stray: string[] = [];
    for (const file of readdirSync(SOURCE).filter((name) => name.endsWith('.ts'))) {
      const text = readFileSync(`${SOURCE}${file}`, 'utf8');
      for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const specifier = match[1] ?? match[2]!;
        if (!ALLOWED.some((pattern) => pattern.test(specifier))) stray.push(`${file}: ${specifier}`);
      }
    }
    expect(stray).to.deep.equal([]);
  });
});
