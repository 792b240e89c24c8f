/**
 * Item 5 of the hardening work: redaction finds secrets inside text. Bearer tokens, JWTs, `ghk_`
 * keys, Basic credentials, PEM private keys, AWS/GCP-style keys and `password=`/`secret=` pairs are
 * masked where they appear inside a longer string, at any depth, and the digest still covers the
 * original arguments.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { AuditSink } from '@gatehouse-mcp/engine';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const JWT = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZ2VudC0xIiwiYXVkIjoiaHR0cHM6Ly9tY3AuZXhhbXBsZS5jb20ifQ.c2lnbmF0dXJlLWJ5dGVz';
const GHK = 'ghk_ABCDEFabcdef_0123456789012345678901234567890123456789abc';
const PEM = ['-----BEGIN RSA PRIVATE KEY-----', 'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun', 'VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK', '-----END RSA PRIVATE KEY-----'].join('\n');
const SECRETS = [JWT, GHK, 'S3cr3t!pw', 'hunter2', 'AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'AIzaSyA-1234567890abcdefghijklmnopqrstu', 'dXNlcjpwYXNzd29yZA==', 'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun', 'correct horse battery staple', 'ya29.a0AfH6SMBx3example-token-value', 'abcd1234efgh5678'];

/** Realistic arguments, and what must be stored for each. */
const TABLE: { name: string; value: string; stored: string }[] = [
  {
    name: 'a curl command line',
    value: `curl -sS -H "Authorization: Bearer ${JWT}" -H 'X-API-Key: ${GHK}' -u admin:S3cr3t!pw https://api.example.com/v1/tickets?limit=5`,
    stored: `curl -sS -H "Authorization: Bearer [REDACTED]" -H 'X-API-Key: [REDACTED]' -u admin:[REDACTED] https://api.example.com/v1/tickets?limit=5`,
  },
  {
    name: 'a log excerpt',
    value: [
      '2024-05-01T10:00:00Z INFO connecting to postgres://app:hunter2@db.internal:5432/prod retry=3',
      '2024-05-01T10:00:01Z WARN aws_access_key_id=AKIAIOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY region=eu-west-1',
      '2024-05-01T10:00:02Z DEBUG upstream said 401 to Authorization: Basic dXNlcjpwYXNzd29yZA== (request 42)',
      `2024-05-01T10:00:03Z DEBUG gcloud token ya29.a0AfH6SMBx3example-token-value expires in 3599s`,
    ].join('\n'),
    stored: [
      '2024-05-01T10:00:00Z INFO connecting to postgres://app:[REDACTED]@db.internal:5432/prod retry=3',
      '2024-05-01T10:00:01Z WARN aws_access_key_id=[REDACTED] aws_secret_access_key=[REDACTED] region=eu-west-1',
      '2024-05-01T10:00:02Z DEBUG upstream said 401 to Authorization: Basic [REDACTED] (request 42)',
      '2024-05-01T10:00:03Z DEBUG gcloud token [REDACTED] expires in 3599s',
    ].join('\n'),
  },
  {
    name: 'a config file',
    value: ['[database]', 'host = db.internal', 'password = "correct horse battery staple"', 'client_secret: abcd1234efgh5678', 'maps_key=AIzaSyA-1234567890abcdefghijklmnopqrstu', PEM, 'port = 5432'].join('\n'),
    stored: ['[database]', 'host = db.internal', 'password = "[REDACTED]"', 'client_secret: [REDACTED]', 'maps_key=[REDACTED]', '[REDACTED]', 'port = 5432'].join('\n'),
  },
  {
    name: 'JSON text inside a string',
    value: '{"username":"bob","password":"hunter2","note":"renew before May"}',
    stored: '{"username":"bob","password":"[REDACTED]","note":"renew before May"}',
  },
  {
    name: 'a database client command',
    value: 'mysql --password hunter2 --user root -h db.internal --secret=abcd1234efgh5678',
    stored: 'mysql --password [REDACTED] --user root -h db.internal --secret=[REDACTED]',
  },
  {
    name: 'ordinary prose',
    value: 'The tokenizer splits the passage; token count: 5. Password rules are on the wiki.',
    stored: 'The tokenizer splits the passage; token count: 5. Password rules are on the wiki.',
  },
];

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(value);
}

describe('EE audit: redaction finds secrets inside text', function () {
  this.timeout(60_000);
  let t: GovernanceTestEngine;

  before(async () => {
    t = await governanceEngine();
  });
  after(async () => {
    await t?.close();
  });

  it('masks secrets inside longer strings at any depth, keeps the rest, and digests the original', async () => {
    const role = await t.role('echoer', ['echo:run']);
    const client = await t.connect({ token: (await t.agent({ roleIds: [role] })).key });
    const args = {
      texts: Object.fromEntries(TABLE.map((row) => [row.name, row.value])),
      deep: { a: [{ b: { c: [TABLE[0]!.value] } }] },
      whole: `Bearer ${JWT}`,
    };
    const result = await client.callTool({ name: 'echo', arguments: args });
    expect(result.isError).to.not.equal(true);
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const row = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'echo' }).first();
    for (const entry of TABLE) expect(row.arguments.texts[entry.name], entry.name).to.equal(entry.stored);
    expect(row.arguments.deep.a[0].b.c[0]).to.equal(TABLE[0]!.stored);
    // A string that is a credential as a whole is replaced as a whole, as before.
    expect(row.arguments.whole).to.equal('[REDACTED]');
    const stored = JSON.stringify(row);
    for (const secret of SECRETS) expect(stored, secret).to.not.contain(secret);
    expect(row.arguments_digest).to.equal(createHash('sha256').update(canonical(args)).digest('hex'));
  });
});
