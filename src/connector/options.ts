import { readFileSync } from 'node:fs';
import { UsageError } from './connector-error.js';
import { parseFlags } from './flags.js';
import { maskUrlText } from './shown-url.js';
import { CONNECTOR_BIN, CONNECTOR_NAME } from './version.js';

export const DEFAULT_API_KEY_ENV = 'GATEHOUSE_API_KEY';
export const CLIENT_SECRET_ENV = 'GATEHOUSE_CLIENT_SECRET';
export const URL_ENV = 'GATEHOUSE_URL';
export const DEFAULT_TIMEOUT_MS = 60_000;
export const CLIENTS = ['claude-desktop', 'cursor', 'vscode'] as const;
export type ClientKind = (typeof CLIENTS)[number];

/** How the connector proves who it is to the remote server. */
export type AuthOptions =
  | { readonly mode: 'api-key'; readonly envName: string }
  | {
      readonly mode: 'client-credentials';
      readonly issuer: string | undefined;
      readonly tokenEndpoint: string | undefined;
      readonly clientId: string;
      /** Where the secret comes from: a file path, or the environment. */
      readonly secretFile: string | undefined;
      readonly scope: string | undefined;
      /** The RFC 8707 resource indicator; `undefined` when `--no-resource` is given. */
      readonly resource: string | undefined;
      readonly clientAuth: 'basic' | 'post';
    };

export interface RunOptions {
  readonly command: 'run';
  readonly url: URL;
  readonly auth: AuthOptions;
  readonly timeoutMs: number;
  readonly verbose: boolean;
}

export interface PrintConfigOptions {
  readonly command: 'print-config';
  readonly client: ClientKind;
  readonly url: URL;
  readonly auth: AuthOptions;
  readonly timeoutMs: number | undefined;
  /** What `--package` named; without it the configuration starts this connector from where it is. */
  readonly packageSpec: string | undefined;
  readonly serverName: string;
}

export type CliCommand = RunOptions | PrintConfigOptions | { readonly command: 'help' } | { readonly command: 'version' };

export const USAGE = `Usage:
  ${CONNECTOR_BIN} --url <mcp-url> [auth options] [--timeout <ms>] [--verbose]
  ${CONNECTOR_BIN} print-config --client claude-desktop|cursor|vscode --url <mcp-url> [auth options]

Serves MCP over stdio and forwards every request to a Gatehouse server over Streamable HTTP.

Server:
  --url <url>                  The server's MCP endpoint, e.g. https://mcp.example.com/api/mcp
                               (or set ${URL_ENV}).
  --timeout <ms>               Per-request timeout in milliseconds (default ${DEFAULT_TIMEOUT_MS}).

API key (default mode):
  --api-key-env <NAME>         Read the API key from this environment variable
                               (default ${DEFAULT_API_KEY_ENV}). Sent as "Authorization: Bearer".

OAuth client credentials (an agent's identity at its IdP):
  --client-id <id>             The agent's client id. Selects this mode.
  --issuer <url>               The IdP's issuer (discovery via .well-known), or
  --token-endpoint <url>       its token endpoint, when the IdP offers no discovery.
  --client-secret-file <path>  Read the client secret from this file; otherwise it is read from
                               ${CLIENT_SECRET_ENV}. Never pass secrets as flags.
  --scope <scopes>             Space-separated scopes to request.
  --resource <url>             Resource indicator (RFC 8707); defaults to --url.
  --no-resource                Send no resource indicator (for IdPs that reject it, e.g. Entra ID).
  --client-auth basic|post     How the secret is sent to the token endpoint (default basic).

print-config:
  --client <name>              claude-desktop, cursor or vscode.
  --package <spec>             Start the connector with npx from this package: a tarball path, or
                               ${CONNECTOR_NAME}[@version] once installed from the registry.
                               Default: this connector, from where it is on this machine.
  --name <name>                The server's name in the client's configuration (default gatehouse).

Other:
  --verbose                    Log connection details to stderr (secrets are always masked).
  -h, --help                   Show this help.
  -V, --version                Show the version.

Exit codes: 0 ok (the client closed stdin), 1 the server could not be reached or refused the
credential at start-up, 2 bad flags or configuration, 130 stopped by SIGINT, 143 stopped by SIGTERM.
`;

const FLAGS = {
  url: { type: 'string' },
  timeout: { type: 'string' },
  'api-key-env': { type: 'string' },
  'client-id': { type: 'string' },
  issuer: { type: 'string' },
  'token-endpoint': { type: 'string' },
  'client-secret-file': { type: 'string' },
  scope: { type: 'string' },
  resource: { type: 'string' },
  'no-resource': { type: 'boolean' },
  'client-auth': { type: 'string' },
  client: { type: 'string' },
  package: { type: 'string' },
  name: { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

const PRINT_CONFIG_ONLY = ['client', 'package', 'name'] as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function httpUrl(value: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Echoed to help spot the typo, but never the user:password part of it, nor the values of its query.
    const withoutUser = value.replace(/^([a-z][a-z0-9+.-]*:\/\/)(.*)@/i, '$1***@');
    throw new UsageError(`${flag} "${maskUrlText(withoutUser)}" is not a URL${withoutUser === value ? '' : ' (the part before @ is not shown), and must not carry credentials: use the auth options'}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag} must be an http:// or https:// URL.`);
  if (url.username || url.password) throw new UsageError(`${flag} must not carry credentials; use the auth options.`);
  return url;
}

/** Parse the command line. Throws {@link UsageError} for anything the user must fix. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliCommand {
  let parsed;
  try {
    parsed = parseFlags(argv, FLAGS);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  if (values.version) return { command: 'version' };
  if (positionals.length > 1 || (positionals.length === 1 && positionals[0] !== 'print-config')) {
    throw new UsageError(`Unexpected argument "${positionals.at(-1)}"; the only command is print-config.`);
  }
  const printConfig = positionals[0] === 'print-config';
  if (!printConfig) {
    const misplaced = PRINT_CONFIG_ONLY.find((flag) => values[flag] !== undefined);
    if (misplaced) throw new UsageError(`--${misplaced} belongs to print-config.`);
  }

  const rawUrl = values.url ?? env[URL_ENV];
  if (!rawUrl) throw new UsageError(`--url is required (the server's MCP endpoint, e.g. https://mcp.example.com/api/mcp).`);
  const url = httpUrl(rawUrl, '--url');

  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    timeoutMs = Number(values.timeout);
    if (!/^\d+$/.test(values.timeout) || timeoutMs < 100 || timeoutMs > 3_600_000) {
      throw new UsageError(`--timeout must be a number of milliseconds between 100 and 3600000.`);
    }
  }

  const auth = parseAuth(values, url);
  if (printConfig) {
    const client = values.client;
    if (!client) throw new UsageError(`print-config needs --client ${CLIENTS.join('|')}.`);
    if (!(CLIENTS as readonly string[]).includes(client)) throw new UsageError(`--client must be one of ${CLIENTS.join(', ')}.`);
    return {
      command: 'print-config',
      client: client as ClientKind,
      url,
      auth,
      timeoutMs,
      packageSpec: values.package,
      serverName: values.name ?? 'gatehouse',
    };
  }
  return { command: 'run', url, auth, timeoutMs: timeoutMs ?? DEFAULT_TIMEOUT_MS, verbose: values.verbose ?? false };
}

type Values = { [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

function parseAuth(values: Values, url: URL): AuthOptions {
  const oauthFlags = (['issuer', 'token-endpoint', 'client-secret-file', 'scope', 'resource', 'no-resource', 'client-auth'] as const).filter(
    (flag) => values[flag] !== undefined,
  );
  if (values['client-id'] === undefined) {
    if (oauthFlags.length) throw new UsageError(`--${oauthFlags[0]} needs --client-id (OAuth client credentials mode).`);
    const envName = values['api-key-env'] ?? DEFAULT_API_KEY_ENV;
    if (!ENV_NAME.test(envName)) throw new UsageError(`--api-key-env takes the NAME of an environment variable, not the key itself.`);
    return { mode: 'api-key', envName };
  }
  if (values['api-key-env'] !== undefined) throw new UsageError(`Use either --api-key-env or --client-id, not both.`);
  const clientId = values['client-id'];
  if (!clientId) throw new UsageError(`--client-id must not be empty.`);
  const issuer = values.issuer;
  const tokenEndpoint = values['token-endpoint'];
  if (!issuer === !tokenEndpoint) throw new UsageError(`Client credentials need exactly one of --issuer or --token-endpoint.`);
  if (issuer) httpUrl(issuer, '--issuer');
  if (tokenEndpoint) httpUrl(tokenEndpoint, '--token-endpoint');
  if (values['no-resource'] && values.resource !== undefined) throw new UsageError(`Use either --resource or --no-resource, not both.`);
  const resource = values['no-resource'] ? undefined : (values.resource !== undefined ? httpUrl(values.resource, '--resource') : url).href;
  const clientAuth = values['client-auth'] ?? 'basic';
  if (clientAuth !== 'basic' && clientAuth !== 'post') throw new UsageError(`--client-auth must be basic or post.`);
  return {
    mode: 'client-credentials',
    issuer,
    tokenEndpoint,
    clientId,
    secretFile: values['client-secret-file'],
    scope: values.scope,
    resource,
    clientAuth,
  };
}

/** What an HTTP header value cannot hold (tab aside): control characters and anything past U+00FF. */
const NOT_IN_A_HEADER = /[\u0000-\u0008\u000a-\u001f\u007f\u0100-\uffff]/;

/** The API key from the environment. */
export function readApiKey(auth: Extract<AuthOptions, { mode: 'api-key' }>, env: NodeJS.ProcessEnv = process.env): string {
  const key = env[auth.envName]?.trim();
  if (!key) throw new UsageError(`No API key: set the environment variable ${auth.envName} (or name another with --api-key-env).`);
  // It travels in an HTTP header, which cannot carry these: refused here, without echoing the key.
  if (NOT_IN_A_HEADER.test(key)) {
    throw new UsageError(`${auth.envName} holds a line break, a control character or a character outside Latin-1, which an HTTP header cannot carry: set it to the key alone.`);
  }
  return key;
}

/** The client secret from `--client-secret-file`, else from the environment. */
export function readClientSecret(auth: Extract<AuthOptions, { mode: 'client-credentials' }>, env: NodeJS.ProcessEnv = process.env): string {
  if (auth.secretFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(auth.secretFile, 'utf8');
    } catch (error) {
      throw new UsageError(`Cannot read --client-secret-file ${auth.secretFile}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}.`);
    }
    const secret = text.trim();
    if (!secret) throw new UsageError(`--client-secret-file ${auth.secretFile} is empty.`);
    return secret;
  }
  const secret = env[CLIENT_SECRET_ENV]?.trim();
  if (!secret) throw new UsageError(`No client secret: set ${CLIENT_SECRET_ENV} or pass --client-secret-file <path>.`);
  return secret;
}
