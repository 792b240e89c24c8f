import type { Idp } from './api.js';

/** What an agent's operator needs: how to get a token, and the connector command. */
export interface OperatorKit {
  /** How the agent obtains a token, as a shell command, or undefined for an API key. */
  readonly tokenRequest: string | undefined;
  /** What decides the token's audience at this IdP, in a sentence. */
  readonly audienceNote: string;
  /** The connector command, or undefined where the connector cannot obtain the token itself. */
  readonly connector: string | undefined;
}

const CONNECTOR = 'npx -y @gatehouse-mcp/connector';
const SECRET = '"$GATEHOUSE_CLIENT_SECRET"';
/** Shell-quote a value unless it is plainly safe. */
const q = (value: string): string => (/^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
const lines = (...parts: string[]): string => parts.join(' \\\n  ');

/** The token request and connector command for an agent of `idp` (none: API key) named `clientId`. */
export function operatorKit(idp: Idp | undefined, clientId: string, mcpUrl: string, apiKey?: string): OperatorKit {
  if (!idp) {
    return {
      tokenRequest: undefined,
      audienceNote: 'The agent sends its API key as "Authorization: Bearer <key>"; there is no token to request.',
      connector: `GATEHOUSE_API_KEY=${apiKey ? q(apiKey) : '<the key>'} ${CONNECTOR} --url ${q(mcpUrl)}`,
    };
  }
  const audience = idp.audience ?? mcpUrl;
  switch (idp.kind) {
    case 'entra': {
      const endpoint = `https://login.microsoftonline.com/${idp.settings.directoryId ?? '<directory id>'}/oauth2/v2.0/token`;
      const scope = `${audience.replace(/\/+$/, '')}/.default`;
      return {
        tokenRequest: lines(`curl -s ${endpoint}`, '-d grant_type=client_credentials', `-d client_id=${q(clientId)}`, `--data-urlencode client_secret=${SECRET}`, `--data-urlencode scope=${q(scope)}`),
        audienceNote: `Entra issues the token for the API's Application ID URI (${audience}) through scope=…/.default; it refuses the resource parameter.`,
        connector: lines(`${CONNECTOR} --url ${q(mcpUrl)}`, `--token-endpoint ${endpoint}`, `--client-id ${q(clientId)}`, `--scope ${q(scope)}`, '--no-resource'),
      };
    }
    case 'keycloak': {
      const endpoint = `${idp.issuer}/protocol/openid-connect/token`;
      return {
        tokenRequest: lines(`curl -s ${endpoint}`, '-d grant_type=client_credentials', `-d client_id=${q(clientId)}`, `--data-urlencode client_secret=${SECRET}`),
        audienceNote: `Keycloak puts ${audience} in the token's aud through an Audience mapper on a client scope of this client (see the Keycloak section of the Enterprise guide).`,
        connector: lines(`${CONNECTOR} --url ${q(mcpUrl)}`, `--issuer ${q(idp.issuer)}`, `--client-id ${q(clientId)}`),
      };
    }
    case 'google':
      return {
        tokenRequest: lines(
          'curl -s -H "Metadata-Flavor: Google"',
          q(`http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(audience)}`),
        ),
        audienceNote: `The service account requests an ID token with audience ${audience} (on Google Cloud from the metadata server, elsewhere with gcloud auth print-identity-token --audiences=${audience}).`,
        connector: undefined,
      };
    default: {
      const resource = audience === mcpUrl ? [] : [`--resource ${q(audience)}`];
      return {
        tokenRequest: [
          `TOKEN_ENDPOINT=$(curl -s ${q(`${idp.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`)} | jq -r .token_endpoint)`,
          lines('curl -s "$TOKEN_ENDPOINT"', `-u ${q(clientId)}:${SECRET}`, '-d grant_type=client_credentials', `--data-urlencode resource=${q(audience)}`),
        ].join('\n'),
        audienceNote: `The token must carry ${audience} in aud: the request names it as resource (RFC 8707); providers without resource indicators set it on the client.`,
        connector: lines(`${CONNECTOR} --url ${q(mcpUrl)}`, `--issuer ${q(idp.issuer)}`, `--client-id ${q(clientId)}`, ...resource),
      };
    }
  }
}
