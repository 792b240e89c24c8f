import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startServer } from '../harness/processes.js';
import { PROTOCOL_VERSION } from '../harness/protocol.js';
import { loadEnterprise } from './enterprise-availability.js';
import type { ScenarioModule, ScenarioName } from './scenario.js';

async function enterpriseUnavailable(): Promise<string | undefined> {
  const loaded = await loadEnterprise();
  return 'reason' in loaded ? loaded.reason : undefined;
}

/** A local identity provider: an ES256 key pair whose public half is served as a JWKS on 127.0.0.1. */
async function localIdp(): Promise<{ issuer: string; jwksUrl: string; sign(claims: { sub: string; aud: string }): Promise<string>; close(): Promise<void> }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = 'bench-key-1';
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] });
  const server = http.createServer((req, res) => {
    if (req.url === '/jwks') res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer: origin,
    jwksUrl: `${origin}/jwks`,
    sign: ({ sub, aud }) =>
      new SignJWT({ azp: sub, scope: 'mcp' })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setIssuer(origin)
        .setSubject(sub)
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(privateKey),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * An Enterprise server of its own, called with an agent's API key; its audit completeness is not
 * checked here (that is made on ee-key and ee-jwt).
 */
function agentKeyScenario(name: ScenarioName, databaseName: string, extra: { tracing?: boolean; policies?: number }): ScenarioModule {
  return {
    names: [name],
    unavailable: enterpriseUnavailable,
    async start(databases, options) {
      const idp = await localIdp();
      try {
        const database = await databases.create(databaseName);
        const server = await startServer({ kind: 'ee', database, setup: true, issuer: idp.issuer, jwksUrl: idp.jwksUrl, ...extra }, options);
        const headers = { 'mcp-protocol-version': PROTOCOL_VERSION, authorization: `Bearer ${server.credentials.agentKey!}` };
        return {
          scenarios: [{ name, url: server.url, headers, server }],
          async stop() {
            try {
              await server.stop();
            } finally {
              await idp.close();
            }
            return undefined;
          },
        };
      } catch (error) {
        await idp.close();
        throw error;
      }
    },
  };
}

/** Gatehouse Enterprise with an agent's API key, the OpenTelemetry SDK registered and an exporter that drops spans. */
export const enterpriseOtelScenario: ScenarioModule = agentKeyScenario('ee-otel', 'ee_otel', { tracing: true });

/** How many tenant policies the `ee-policy` scenario loads. */
export const BENCH_POLICY_COUNT = 50;

/** Gatehouse Enterprise as ee-key, with a tenant policy set of 50 policies that every call is evaluated against. */
export const enterprisePolicyScenario: ScenarioModule = agentKeyScenario('ee-policy', 'ee_policy', { policies: BENCH_POLICY_COUNT });

/** Gatehouse Enterprise: an agent's API key and an agent's IdP JWT, with RBAC and audit. */
export const enterpriseScenarios: ScenarioModule = {
  names: ['ee-key', 'ee-jwt', 'ee-durable'],
  unavailable: enterpriseUnavailable,
  async start(databases, options) {
    const idp = await localIdp();
    try {
      const database = await databases.create('ee');
      const server = await startServer({ kind: 'ee', database, setup: true, issuer: idp.issuer, jwksUrl: idp.jwksUrl }, options);
      const durableDatabase = await databases.create('ee_durable');
      const durable = await startServer({ kind: 'ee', database: durableDatabase, setup: true, issuer: idp.issuer, jwksUrl: idp.jwksUrl, durable: true }, options);
      const { agentKey, subject, audience, tenant } = server.credentials;
      const token = await idp.sign({ sub: subject!, aud: audience! });
      const headers = (credential: string) => ({ 'mcp-protocol-version': PROTOCOL_VERSION, authorization: `Bearer ${credential}` });
      return {
        scenarios: [
          { name: 'ee-key', url: server.url, headers: headers(agentKey!), server },
          { name: 'ee-jwt', url: server.url, headers: headers(token), server },
          { name: 'ee-durable', url: durable.url, headers: headers(durable.credentials.agentKey!), server: durable },
        ],
        async stop() {
          try {
            // One outcome row per executed call (intents of durable calls are counted apart).
            let toolCalls = 0;
            let auditRows = 0;
            for (const [handle, db] of [[server, database], [durable, durableDatabase]] as const) {
              toolCalls += (await handle.stop()).toolCalls;
              const knex = await databases.open(db);
              try {
                const [row] = (await knex('mcp_agent_audit').where({ tenant, action: 'tools/call' }).whereNot({ outcome: 'intent' }).count({ n: '*' })) as { n: string | number }[];
                auditRows += Number(row!.n);
              } finally {
                await knex.destroy();
              }
            }
            return { toolCalls, auditRows, difference: auditRows - toolCalls };
          } finally {
            await idp.close();
          }
        },
      };
    } catch (error) {
      await idp.close();
      throw error;
    }
  },
};
