/**
 * Item 9 of the hardening work: the docs match behaviour. The error table of the access-token
 * profile, the preset defaults, the redaction examples and the documented defaults of the
 * hardening options in docs/security.md and docs/enterprise.md are read from the docs and checked
 * against the code and the tests that assert them.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { resolveEnterpriseOptions } from '@gatehouse-mcp/engine/ee';
import { resolvePreset, type IdpPresetInput } from '../../src/plugins/ee/identity/idp-presets.js';
import { redactor } from '../../src/plugins/ee/audit/redaction.js';
import { DEFAULT_AUDIT_SINK_SETTINGS } from '../../src/plugins/ee/audit/audit-sink-settings.js';

const root = new URL('../../', import.meta.url).pathname;
const security = readFileSync(join(root, 'docs/security.md'), 'utf8');
const enterprise = readFileSync(join(root, 'docs/enterprise.md'), 'utf8');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The rows of the first Markdown table after `heading`, as arrays of cell texts. */
function table(doc: string, heading: string): string[][] {
  const start = doc.indexOf(heading);
  expect(start, heading).to.be.greaterThan(-1);
  const lines = doc.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
  }
  return rows;
}

/** The backticked pieces of a cell. */
const quoted = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

describe('docs match behaviour', () => {
  const sources = filesUnder(join(root, 'src')).map((file) => readFileSync(file, 'utf8')).join('\n');
  const tests = filesUnder(join(root, 'test')).filter((file) => !file.endsWith('docs-claims.test.ts')).map((file) => readFileSync(file, 'utf8')).join('\n');

  it('every error of the access-token profile table is produced by the code and asserted by a test', () => {
    const rows = table(security, '### Access-token profile');
    expect(rows.length).to.be.at.least(12);
    const missing: string[] = [];
    for (const [check, , errors] of rows) {
      for (const raw of quoted(errors!)) {
        const message = raw.replace(/^invalid_request: /, '');
        if (message === 'invalid_request') continue;
        // Placeholders such as <alg> are filled in at run time: compare the text before the first one.
        const fixed = message.split(/<[a-z]+>/)[0]!;
        const literal = (text: string) => text.replace(/'/g, "\\'");
        if (!sources.includes(fixed) && !sources.includes(literal(fixed))) missing.push(`${check}: "${message}" is not in the code`);
        if (!/<[a-z]+>/.test(message) && !tests.includes(message) && !tests.includes(literal(message))) missing.push(`${check}: "${message}" is asserted by no test`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('the preset defaults table is what the presets resolve to (the custom preset names the agent by sub)', () => {
    const inputs: Record<string, IdpPresetInput> = {
      '`entra` (v2 tokens)': { kind: 'entra', directoryId: '6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31' },
      '`entra` (v1 tokens)': { kind: 'entra', directoryId: '6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31', tokenVersion: 'v1' },
      '`keycloak`': { kind: 'keycloak', realmUrl: 'https://sso.example.com/realms/acme' },
      '`google`': { kind: 'google' },
      '`custom`': { kind: 'custom', issuer: 'https://idp.example.com' },
    };
    const rows = table(enterprise, 'Preset defaults:');
    expect(rows.map((row) => row[0])).to.deep.equal(Object.keys(inputs));
    for (const [kind, claim, algorithms] of rows) {
      const preset = resolvePreset(inputs[kind!]!);
      expect(preset.subjectClaim, kind).to.equal(quoted(claim!)[0]);
      expect([...preset.allowedAlgorithms], kind).to.deep.equal(quoted(algorithms!));
    }
  });

  it('the redaction examples are what the default rule stores', () => {
    const redact = redactor(undefined);
    const rows = table(security, 'Examples of what the default rule stores');
    expect(rows.length).to.be.at.least(5);
    for (const [sent, stored] of rows) {
      const input = quoted(sent!)[0]!;
      expect((redact({ value: input }) as { value: string }).value, input).to.equal(quoted(stored!)[0]);
    }
  });

  it('the documented defaults of the hardening options are the code\'s', () => {
    expect(security).to.include('`audit.authFailureWindowMs` (default **60 s**)');
    expect(DEFAULT_AUDIT_SINK_SETTINGS.authFailureWindowMs).to.equal(60_000);
    expect(security).to.include('`audit.authFailureKeysPerSource` (default **20**)');
    expect(DEFAULT_AUDIT_SINK_SETTINGS.authFailureKeysPerSource).to.equal(20);
    const settings = resolveEnterpriseOptions();
    expect(enterprise).to.include('| `jwksRefetchCooldownMs` | 30 000 |');
    expect(settings.jwksRefetchCooldownMs).to.equal(30_000);
    expect(enterprise).to.include('| `jwksFetchTimeoutMs` | 5 000 |');
    expect(settings.jwksFetchTimeoutMs).to.equal(5_000);
    expect(security).to.include('`jwksFetchTimeoutMs`, default 5 s');
  });

  it('the audience normalisation sentence is the one the token-profile test asserts', () => {
    expect(security).to.include('Only scheme and host case and one trailing slash are normalised; dot-segments, userinfo, a\n  fragment, a query or repeated slashes make it another resource.');
    expect(tests).to.include('normalises only scheme and host case and one trailing slash');
    expect(tests).to.include('treats dot-segments, userinfo, fragments, repeated slashes and queries as another resource');
  });
});
