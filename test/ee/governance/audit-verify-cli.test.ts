import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ApiKeyStore, AuditSink, createEngine, type AuditEvent } from '@gatehouse-mcp/engine';
import { AuditCheckpointer, enterpriseEdition } from '@gatehouse-mcp/engine/ee';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = ['--conditions=gatehouse-source', '--import', 'tsx', path.join(root, 'src/cli/gatehouse.ts')];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const environment = { ...process.env, ...env };
    delete environment.DATABASE_URL;
    const child = spawn(command, args, { cwd: root, env: environment });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const gatehouse = (args: string[], env?: NodeJS.ProcessEnv): Promise<Run> => run(process.execPath, [...cli, ...args], env);

/** The independent verifier printed in docs/security.md, taken verbatim. */
function documentedVerifier(dir: string): string {
  const doc = readFileSync(path.join(root, 'docs/security.md'), 'utf8');
  const match = /```js\n(\/\/ verify-export\.mjs[\s\S]*?)```/.exec(doc);
  if (!match) throw new Error('docs/security.md has no verify-export.mjs block');
  const file = path.join(dir, 'verify-export.mjs');
  writeFileSync(file, match[1]!);
  return file;
}

/**
 * The command line below runs on the embedded database in `data`; so must the engines the test
 * opens itself, whatever DATABASE_URL the test run has.
 */
async function embedded<T>(work: () => Promise<T>): Promise<T> {
  const url = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  try {
    return await work();
  } finally {
    if (url !== undefined) process.env.DATABASE_URL = url;
  }
}

function event(i: number): AuditEvent {
  return {
    time: new Date(),
    tenant: 'acme',
    principal: undefined,
    action: 'tools/call',
    target: 'tickets.write',
    decision: i === 3 ? 'denied' : 'allowed',
    reason: i === 3 ? 'missing permission tickets:write' : undefined,
    outcome: i === 3 ? 'denied' : 'success',
    arguments: { id: `T-${i}`, text: 'naïve "quotes" \u2028 and emoji 🎫', amount: 12.5, list: [3, 1, 2] },
    latencyMs: 0.1 * i,
    requestId: `cli-${i}`,
    clientAddress: '192.0.2.1',
    details: { b: 2, a: 1 },
  };
}

describe('gatehouse audit verify (command line) and the documented independent verifier', function () {
  this.timeout(120_000);
  let dir: string;
  let data: string;
  let privatePem: string;
  let publicPem: string;
  let exported: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'audit-cli-'));
    data = path.join(dir, 'data');
    privatePem = path.join(dir, 'audit-signing.pem');
    publicPem = path.join(dir, 'audit-signing.pub.pem');
    let openssl = true;
    try {
      // The commands docs/security.md shows.
      execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', privatePem], { stdio: 'ignore' });
      execFileSync('openssl', ['pkey', '-in', privatePem, '-pubout', '-out', publicPem], { stdio: 'ignore' });
    } catch {
      openssl = false;
    }
    if (!openssl) {
      const pair = generateKeyPairSync('ed25519');
      writeFileSync(privatePem, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(publicPem, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    }
    const engine = await embedded(() =>
      createEngine({
        plugins: [enterpriseEdition({ audit: { checkpoints: { signingKey: readFileSync(privatePem, 'utf8'), file: path.join(dir, 'published.jsonl') } } })],
        database: { dataDir: data },
        logLevel: 'silent',
      }),
    );
    expect(engine.database.kind).to.equal('embedded');
    try {
      const sink = engine.resolve<AuditSink>(AuditSink);
      for (let i = 1; i <= 5; i++) sink.record(event(i));
      await sink.flush();
      await engine.resolve(AuditCheckpointer).checkpoint();
      sink.record(event(6));
      await sink.flush();
      const { url } = await engine.listen({ host: '127.0.0.1', port: 0 });
      const { secret } = await engine.resolve(ApiKeyStore).create({ tenant: 'acme', name: 'admin', scopes: ['admin'] });
      // Row 6 is not signed yet: the shutdown checkpoint signs it (below).
      const response = await fetch(`${url}/api/v1/mcp/audit/export?format=jsonl`, { headers: { authorization: `Bearer ${secret}` } });
      expect(response.status).to.equal(200);
      exported = path.join(dir, 'export.jsonl');
      writeFileSync(exported, await response.text());
    } finally {
      await engine.close();
    }
  });

  it('signs the chain head at shutdown and publishes it to the file', () => {
    const lines = readFileSync(path.join(dir, 'published.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    // Row 7 is the export itself (audit.export), recorded when the download ended.
    expect(lines.map((c) => [c.type, c.tenant, c.index, c.seq])).to.deep.equal([
      ['checkpoint', 'acme', 1, 5],
      ['checkpoint', 'acme', 2, 7],
    ]);
  });

  it('verifies the tenant on the database with the public key', async () => {
    const result = await gatehouse(['audit', 'verify', '--tenant', 'acme', '--public-key', publicPem, '--data-dir', data]);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/Tenant acme: the audit chain verifies — 7 row\(s\) \(seq 1–7\), 2 signed checkpoint\(s\)/);
  });

  it('reports a row changed in the database with exit status 1', async () => {
    const engine = await embedded(() => createEngine({ plugins: [enterpriseEdition()], database: { dataDir: data }, logLevel: 'silent' }));
    expect(engine.database.kind).to.equal('embedded');
    try {
      await engine.database.knex('mcp_agent_audit').where({ tenant: 'acme', seq: 4 }).update({ outcome: 'error' });
    } finally {
      await engine.close();
    }
    const result = await gatehouse(['audit', 'verify', '--tenant', 'acme', '--public-key', publicPem, '--data-dir', data]);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/Tenant acme: BROKEN at seq 4 — changed row: row 4 does not match its hash/);
    const json = await gatehouse(['audit', 'verify', '--tenant', 'acme', '--public-key', publicPem, '--data-dir', data, '--json']);
    expect(JSON.parse(json.stdout).break).to.include({ reason: 'changed-row', seq: 4 });
  });

  it('verifies an export offline, and names the first broken link of a tampered one', async () => {
    let result = await gatehouse(['audit', 'verify', '--file', exported, '--public-key', publicPem]);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/the audit chain verifies — 6 row\(s\)/);

    const tampered = path.join(dir, 'tampered.jsonl');
    writeFileSync(
      tampered,
      readFileSync(exported, 'utf8')
        .split('\n')
        .filter((line) => !line.includes('"requestId":"cli-5"'))
        .join('\n'),
    );
    result = await gatehouse(['audit', 'verify', '--file', tampered, '--public-key', publicPem]);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/BROKEN at seq 5 — missing rows/);
  });

  it('verifies an export against the published checkpoints, holding only those signed after it aside (the documented --checkpoints command reported a checkpoint signed after the export as missing)', async () => {
    const published = path.join(dir, 'published.jsonl');
    let result = await gatehouse(['audit', 'verify', '--file', exported, '--public-key', publicPem, '--checkpoints', published]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(/the audit chain verifies — 6 row\(s\)/);
    expect(result.stdout).to.match(/1 published checkpoint\(s\) were signed after this export was made/);

    // A tail cut before the export was made is still caught by the checkpoint published before it.
    const cut = path.join(dir, 'cut.jsonl');
    writeFileSync(
      cut,
      readFileSync(exported, 'utf8')
        .split('\n')
        .filter((line) => !line.includes('"requestId":"cli-5"') && !line.includes('"requestId":"cli-6"') && !line.includes('"type":"checkpoint"'))
        .join('\n'),
    );
    result = await gatehouse(['audit', 'verify', '--file', cut, '--public-key', publicPem, '--checkpoints', published]);
    expect(result.code, result.stdout).to.equal(1);
    expect(result.stdout).to.match(/BROKEN at seq 5 — missing checkpoint: published checkpoint 1 \(seq 5\) is missing from the trail/);
  });

  it('runs the independent verifier from the docs verbatim: it accepts the export and rejects tampering', async () => {
    const script = documentedVerifier(dir);
    let result = await run(process.execPath, [script, exported, publicPem]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^OK: 6 rows up to seq 6, 1 checkpoint\(s\)/);

    const changed = path.join(dir, 'changed.jsonl');
    writeFileSync(changed, readFileSync(exported, 'utf8').replace('"outcome":"denied"', '"outcome":"success"'));
    result = await run(process.execPath, [script, changed, publicPem]);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/BROKEN: row 3 was changed/);

    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
    writeFileSync(path.join(dir, 'other.pem'), other);
    result = await run(process.execPath, [script, exported, path.join(dir, 'other.pem')]);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/BROKEN: checkpoint 1 has a bad signature/);
  });

  it('prunes with the signing key from the environment, and refuses bad usage with exit status 2', async () => {
    const pruned = await gatehouse(['audit', 'prune', '--older-than', '400d', '--data-dir', data], { GATEHOUSE_AUDIT_SIGNING_KEY_FILE: privatePem });
    expect(pruned.code, pruned.stderr).to.equal(0);
    expect(pruned.stdout).to.match(/nothing to drop/);
    for (const args of [['audit', 'prune', '--older-than', '400'], ['audit', 'prune', '--older-than', '99999999999999d'], ['audit', 'verify', '--file', path.join(dir, 'nope.jsonl')]]) {
      const result = await gatehouse(args);
      expect(result.code, args.join(' ')).to.equal(2);
      expect(result.stderr).to.match(/^gatehouse: /);
      expect(result.stderr).to.not.match(/\n\s+at /);
    }
  });

  it('refuses a checkpoint interval from the environment that is no number or too long for a timer (0x10 was read as 16 ms, 99999999999 signed every millisecond)', async () => {
    for (const [value, message] of [
      ['0x10', 'GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL_MS must be a whole number of milliseconds, not "0x10".'],
      ['99999999999', 'GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL_MS must be a positive number of milliseconds, at most 2147483647'],
    ]) {
      const result = await gatehouse(['audit', 'prune', '--older-than', '400d', '--data-dir', data], { GATEHOUSE_AUDIT_SIGNING_KEY_FILE: privatePem, GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL_MS: value! });
      expect(result.code, value).to.equal(1);
      expect(result.stderr).to.include(message!);
      expect(result.stderr).to.not.match(/\n\s+at /);
    }
  });
});
