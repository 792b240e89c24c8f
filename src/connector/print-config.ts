import { localLaunch, packageLaunch, type LaunchCommand } from './launch-command.js';
import { CLIENT_SECRET_ENV, type PrintConfigOptions } from './options.js';
import { maskUrlText } from './shown-url.js';

type Env = Record<string, string>;

/** One option and its value, as `--name=value` when the value starts with "-" so that no parser takes it for an option. */
function flag(name: string, value: string): string[] {
  return value.startsWith('-') ? [`--${name}=${value}`] : [`--${name}`, value];
}

/** A URL for the configuration: the values of its query, which may be keys or signatures, as placeholders to fill in. */
function configUrl(url: string): string {
  return maskUrlText(url, (name) => `<your ${name ?? 'value'}>`);
}

/** The URL flags whose query values the configuration shows as placeholders. */
function urlsWithPlaceholders(options: PrintConfigOptions): string[] {
  const { auth } = options;
  const urls: [string, string | undefined][] = [['--url', options.url.href]];
  if (auth.mode === 'client-credentials') urls.push(['--issuer', auth.issuer], ['--token-endpoint', auth.tokenEndpoint], ['--resource', auth.resource === options.url.href ? undefined : auth.resource]);
  return urls.filter(([, url]) => url !== undefined && configUrl(url) !== url).map(([name]) => name);
}

/** What to tell on stderr when the configuration holds placeholders for query values. */
export function placeholderNote(options: PrintConfigOptions): string | undefined {
  const flags = urlsWithPlaceholders(options);
  if (!flags.length) return undefined;
  return `The values in the query of ${flags.join(', ')} are printed as placeholders (<your …>), as secrets are: replace them in the configuration.`;
}

/** The connector's arguments for a client configuration: never a secret, only where to find one. */
function connectorArgs(options: PrintConfigOptions): string[] {
  const args = flag('url', configUrl(options.url.href));
  const { auth } = options;
  if (auth.mode === 'api-key') {
    if (auth.envName !== 'GATEHOUSE_API_KEY') args.push(...flag('api-key-env', auth.envName));
  } else {
    if (auth.issuer) args.push(...flag('issuer', configUrl(auth.issuer)));
    if (auth.tokenEndpoint) args.push(...flag('token-endpoint', configUrl(auth.tokenEndpoint)));
    args.push(...flag('client-id', auth.clientId));
    if (auth.secretFile) args.push(...flag('client-secret-file', auth.secretFile));
    if (auth.scope) args.push(...flag('scope', auth.scope));
    if (auth.resource === undefined) args.push('--no-resource');
    else if (auth.resource !== options.url.href) args.push(...flag('resource', configUrl(auth.resource)));
    if (auth.clientAuth !== 'basic') args.push(...flag('client-auth', auth.clientAuth));
  }
  if (options.timeoutMs !== undefined) args.push(...flag('timeout', String(options.timeoutMs)));
  return args;
}

/** The secret-bearing environment variable, if the configuration needs one. */
function secretEnvName(options: PrintConfigOptions): string | undefined {
  if (options.auth.mode === 'api-key') return options.auth.envName;
  return options.auth.secretFile ? undefined : CLIENT_SECRET_ENV;
}

/**
 * The JSON to paste into a client's MCP configuration. Secrets appear only as placeholders:
 * Claude Desktop gets a value to replace, Cursor reads the variable from its own environment,
 * VS Code prompts for it once and stores it.
 */
export function renderClientConfig(options: PrintConfigOptions, launch: LaunchCommand = launchFor(options)): string {
  const command = launch.command;
  const args = [...launch.args, ...connectorArgs(options)];
  const envName = secretEnvName(options);
  const name = options.serverName;
  const what = options.auth.mode === 'api-key' ? 'API key' : 'client secret';
  switch (options.client) {
    case 'claude-desktop': {
      const env: Env = envName ? { [envName]: `<your Gatehouse ${what}>` } : {};
      return JSON.stringify({ mcpServers: { [name]: { command, args, ...(envName ? { env } : {}) } } }, null, 2);
    }
    case 'cursor': {
      const env: Env = envName ? { [envName]: `\${env:${envName}}` } : {};
      return JSON.stringify({ mcpServers: { [name]: { type: 'stdio', command, args, ...(envName ? { env } : {}) } } }, null, 2);
    }
    case 'vscode': {
      const inputId = `${name}-${options.auth.mode === 'api-key' ? 'api-key' : 'client-secret'}`;
      const inputs = envName ? [{ type: 'promptString', id: inputId, description: `Gatehouse ${what}`, password: true }] : [];
      const env: Env = envName ? { [envName]: `\${input:${inputId}}` } : {};
      return JSON.stringify({ inputs, servers: { [name]: { type: 'stdio', command, args, ...(envName ? { env } : {}) } } }, null, 2);
    }
  }
}

/** How the printed configuration starts the connector: `--package`, else this connector where it is. */
export function launchFor(options: PrintConfigOptions): LaunchCommand {
  return options.packageSpec === undefined ? localLaunch() : packageLaunch(options.packageSpec);
}

/** Where each client keeps the snippet, printed to stderr next to it. */
export const CONFIG_LOCATION: Record<PrintConfigOptions['client'], string> = {
  'claude-desktop': 'Claude Desktop: Settings → Developer → Edit Config (claude_desktop_config.json); merge into "mcpServers".',
  cursor: 'Cursor: ~/.cursor/mcp.json (all projects) or .cursor/mcp.json (one project); merge into "mcpServers".',
  vscode: 'VS Code: .vscode/mcp.json in the workspace (or "MCP: Open User Configuration"); merge "inputs" and "servers".',
};
