import { AuditSink, Authenticator, Policy, RegistryEntries, RouteContribution, definePlugin, json, type PluginDefinition, type PolicyRequest, type Principal, type RouteContribution as Routes } from '@gatehouse-mcp/engine';
import { ApiKeyAuthenticator } from '@gatehouse-mcp/engine/oss';
import { RecordingAuditSink, RecordingPolicy } from '@gatehouse-mcp/engine/testing';

/** The registry endpoint as a governing edition serves it: only the entries its policy allows. */
function registryRoutes(registry: RegistryEntries): Routes {
  return {
    routes: () => [
      {
        method: 'GET',
        path: '/api/v1/meta/mcp-registry',
        handler: async (req) => {
          const principal = await req.authenticate();
          const entries = (await registry.list(principal)).filter(({ decision }) => decision.allow).map(({ entry }) => entry);
          return json(200, { data: { edition: 'test', count: entries.length, entries } });
        },
      },
    ],
  };
}

/**
 * An edition-like test plugin: the Community Edition's API keys, a policy driven by a rule, and an
 * audit sink that records every event.
 */
export function governedEdition(rule: (principal: Principal, request: PolicyRequest) => boolean): {
  plugin: PluginDefinition;
  policy: RecordingPolicy;
  audit: RecordingAuditSink;
} {
  const policy = new RecordingPolicy(rule);
  const audit = new RecordingAuditSink();
  const plugin = definePlugin({
    id: 'governed-test-edition',
    register({ bind }) {
      bind(Authenticator).to(ApiKeyAuthenticator);
      bind(Policy).toConstantValue(policy);
      bind(AuditSink).toConstantValue(audit);
      bind(RouteContribution).toDynamicValue((context) => registryRoutes(context.get(RegistryEntries)));
    },
  });
  return { plugin, policy, audit };
}
