import { expect } from 'chai';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UsageError } from '../../src/connector/connector-error.js';
import { parseCommandLine, readApiKey, readClientSecret, type CliCommand, type PrintConfigOptions } from '../../src/connector/options.js';
import { renderClientConfig } from '../../src/connector/print-config.js';
import { CONNECTOR_CLI, runConnector } from './support/connector-process.js';

/** What the connector would refuse, checked in-process (start-up secrets included); the exit code is checked on real processes below. */
function refusal(args: string[], env: Record<string, string>): string {
  try {
    const command: CliCommand = parseCommandLine(args, env);
    if (command.command === 'run' && command.auth.mode === 'api-key') readApiKey(command.auth, env);
    if (command.command === 'run' && command.auth.mode === 'client-credentials') readClientSecret(command.auth, env);
  } catch (error) {
    expect(error).to.be.instanceOf(UsageError);
    return (error as Error).message;
  }
  return expect.fail(`accepted: ${args.join(' ')}`);
}

const URL_ = 'https://mcp.example.com/t/acme/api/mcp';

describe('connector: command line', function () {
  this.timeout(60_000);

  it('--help prints usage on stdout and exits 0', async () => {
    const run = await runConnector(['--help']);
    expect(run.code).to.equal(0);
    expect(run.stdout).to.include('Usage:').and.include('--api-key-env').and.include('--client-secret-file').and.include('print-config');
  });

  it('--version prints the version', async () => {
    const run = await runConnector(['--version']);
    expect(run.code).to.equal(0);
    expect(run.stdout.trim()).to.match(/^\d+\.\d+\.\d+$/);
  });

  const usageErrors: [string, string[], Record<string, string>, string][] = [
    ['an unknown flag', ['--url', URL_, '--bogus'], {}, "Unknown option '--bogus'."],
    ['no --url', [], {}, '--url is required'],
    ['a --url that is not a URL', ['--url', 'mcp.example.com'], {}, '--url "mcp.example.com" is not a URL.'],
    ['a --url with credentials that is no URL, without echoing the password', ['--url', 'https://ann:s3cret@mcp example.com/api/mcp'], {}, '--url "https://***@mcp example.com/api/mcp" is not a URL (the part before @ is not shown)'],
    ['a --url with credentials', ['--url', 'https://ann:s3cret@mcp.example.com/api/mcp'], {}, '--url must not carry credentials; use the auth options.'],
    ['a bad --timeout', ['--url', URL_, '--timeout', 'soon'], { GATEHOUSE_API_KEY: 'k' }, '--timeout must be a number of milliseconds'],
    ['no API key in the environment', ['--url', URL_], {}, 'No API key: set the environment variable GATEHOUSE_API_KEY'],
    ['a key passed where a variable name belongs', ['--url', URL_, '--api-key-env', 'gh_abc.def-123'], {}, '--api-key-env takes the NAME of an environment variable'],
    ['client credentials without an IdP', ['--url', URL_, '--client-id', 'agent'], {}, 'exactly one of --issuer or --token-endpoint'],
    ['client credentials without a secret', ['--url', URL_, '--client-id', 'agent', '--issuer', 'https://idp.example.com'], {}, 'No client secret: set GATEHOUSE_CLIENT_SECRET'],
    ['an OAuth flag without --client-id', ['--url', URL_, '--scope', 'mcp'], {}, '--scope needs --client-id'],
    ['--resource with --no-resource', ['--url', URL_, '--client-id', 'a', '--issuer', 'https://idp.example.com', '--resource', URL_, '--no-resource'], {}, 'either --resource or --no-resource'],
    ['print-config without --client', ['print-config', '--url', URL_], {}, 'print-config needs --client'],
    ['an unknown command', ['serve', '--url', URL_], {}, 'the only command is print-config'],
  ];
  for (const [what, args, env, message] of usageErrors) {
    it(`refuses ${what}`, () => {
      expect(refusal(args, env)).to.include(message);
    });
  }

  it('a --url with a password that is no URL echoed the password: it is masked', () => {
    expect(refusal(['--url', 'https://ann:s3cret@mcp example.com/api/mcp'], {})).not.to.include('s3cret').and.not.to.include('ann');
  });

  for (const [what, args, env, message] of [usageErrors[0]!, usageErrors[6]!]) {
    it(`exits 2 with the reason and a pointer to --help on ${what}`, async () => {
      const run = await runConnector(args, env);
      expect(run.code).to.equal(2);
      expect(run.stderr).to.include(message).and.include('--help');
      expect(run.stdout).to.equal('');
    });
  }

  it('an API key with a line break in it was echoed on stderr inside the handshake error: it is refused up front (exit 2), naming the variable and never the key', async () => {
    for (const key of ['ghk_secret-part\nrest', 'ghk_secret-part\r\nrest', 'ghk_secret\u0007part', 'ghk_secret\u2028part']) {
      const run = await runConnector(['--url', URL_], { GATEHOUSE_API_KEY: key });
      expect(run.code, JSON.stringify(key)).to.equal(2);
      expect(run.stderr).to.include('GATEHOUSE_API_KEY holds a line break, a control character or a character outside Latin-1');
      expect(run.stderr).not.to.include('ghk_secret');
    }
    // Surrounding whitespace (a key pasted with its newline) is trimmed, not refused.
    expect(readApiKey({ mode: 'api-key', envName: 'GATEHOUSE_API_KEY' }, { GATEHOUSE_API_KEY: '  ghk_key\r\n' })).to.equal('ghk_key');
  });

  it('a client id that starts with "-" (IdPs generate them) was refused as an ambiguous option: it is read as the value, and print-config writes it so that it reads back', async () => {
    const env = { GATEHOUSE_CLIENT_SECRET: 's' };
    for (const clientId of ['-x3Fq9', '-hX', '--not-a-flag', '-']) {
      const args = ['--url', URL_, '--issuer', 'https://idp.example.com', '--client-id', clientId, '--scope', '-odd'];
      const command = parseCommandLine(args, env);
      expect(command.command === 'run' && command.auth.mode === 'client-credentials' && [command.auth.clientId, command.auth.scope], clientId).to.deep.equal([clientId, '-odd']);
      const printed = parseCommandLine(['print-config', '--client', 'cursor', '--package', '@gatehouse-mcp/connector', ...args], env);
      const entry = JSON.parse(renderClientConfig(printed as PrintConfigOptions)).mcpServers.gatehouse as { args: string[] };
      expect(entry.args).to.include(`--client-id=${clientId}`);
      const reread = parseCommandLine(entry.args.slice(2), env);
      expect(reread.command === 'run' && reread.auth.mode === 'client-credentials' && reread.auth.clientId).to.equal(clientId);
    }
    // Only an option's name after an option is taken for a missing value, and the message says how to write one.
    expect(refusal(['--url', URL_, '--issuer', 'https://idp.example.com', '--client-id', '--scope', 'mcp'], env)).to.equal(
      '--client-id needs a value (one that starts with "-" can be written --client-id=<value>).',
    );
    expect(refusal(['--url', URL_, '--client-id', '-h'], env)).to.include('--client-id needs a value');
    expect(refusal(['--url', URL_, '--client-id'], env)).to.include('--client-id needs a value');
  });

  it('exits 2 on an unreadable --client-secret-file, naming the file', async () => {
    const run = await runConnector(['--url', URL_, '--client-id', 'a', '--issuer', 'https://idp.example.com', '--client-secret-file', 'no/such/secret.txt']);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include('Cannot read --client-secret-file no/such/secret.txt: ENOENT');
  });

  describe('print-config', () => {
    it('claude-desktop: starts this connector from where it is, with a placeholder for the key, never the key itself', async () => {
      const run = await runConnector(['print-config', '--client', 'claude-desktop', '--url', URL_], { GATEHOUSE_API_KEY: 'gh_real-secret-value-123' });
      expect(run.code).to.equal(0);
      expect(run.stdout).not.to.include('gh_real-secret-value-123');
      const config = JSON.parse(run.stdout);
      const tsx = config.mcpServers.gatehouse.args[1];
      expect(tsx).to.match(/^file:\/\/.*\/tsx\//);
      expect(config).to.deep.equal({
        mcpServers: {
          gatehouse: { command: process.execPath, args: ['--import', tsx, CONNECTOR_CLI, '--url', URL_], env: { GATEHOUSE_API_KEY: '<your Gatehouse API key>' } },
        },
      });
      expect(run.stderr).to.include('claude_desktop_config.json');
      // The registry form is offered only as what works after installing from the registry.
      expect(run.stderr).to.include('After installing @gatehouse-mcp/connector from the registry').and.include('"-y","@gatehouse-mcp/connector"');
    });

    it('--package with a tarball path: an absolute file: spec that npx can start from any directory', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'connector-cli-'));
      try {
        writeFileSync(path.join(dir, 'connector.tgz'), 'not read by print-config');
        const run = await runConnector(['print-config', '--client', 'claude-desktop', '--url', URL_, '--package', './connector.tgz'], {}, { cwd: dir });
        expect(run.code).to.equal(0);
        const server = JSON.parse(run.stdout).mcpServers.gatehouse;
        expect(server.command).to.equal('npx');
        expect(server.args).to.deep.equal(['-y', `--package=file:${path.join(dir, 'connector.tgz')}`, 'gatehouse-connector', '--url', URL_]);
        const missing = await runConnector(['print-config', '--client', 'claude-desktop', '--url', URL_, '--package', '/no/such/connector.tgz']);
        expect(missing.code).to.equal(2);
        expect(missing.stderr).to.include('--package /no/such/connector.tgz: no such file.');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('cursor: the secret comes from Cursor’s environment', async () => {
      const run = await runConnector(['print-config', '--client', 'cursor', '--url', URL_, '--api-key-env', 'ACME_KEY', '--name', 'acme', '--package', '@gatehouse-mcp/connector']);
      expect(run.code).to.equal(0);
      const server = JSON.parse(run.stdout).mcpServers.acme;
      expect(server.command).to.equal('npx');
      expect(server.args).to.deep.equal(['-y', '@gatehouse-mcp/connector', '--url', URL_, '--api-key-env', 'ACME_KEY']);
      expect(server.env).to.deep.equal({ ACME_KEY: '${env:ACME_KEY}' });
    });

    it('vscode with client credentials: a password input for the secret, the OAuth flags in args', async () => {
      const run = await runConnector([
        'print-config', '--client', 'vscode', '--url', URL_, '--client-id', 'ticket-bot', '--issuer', 'https://login.example.com/tenant/v2.0',
        '--scope', 'api://gatehouse/.default', '--no-resource', '--package', '@gatehouse-mcp/connector@0.1.0',
      ]);
      expect(run.code).to.equal(0);
      const config = JSON.parse(run.stdout);
      expect(config.inputs).to.deep.equal([{ type: 'promptString', id: 'gatehouse-client-secret', description: 'Gatehouse client secret', password: true }]);
      expect(config.servers.gatehouse).to.deep.equal({
        type: 'stdio',
        command: 'npx',
        args: ['-y', '@gatehouse-mcp/connector@0.1.0', '--url', URL_, '--issuer', 'https://login.example.com/tenant/v2.0', '--client-id', 'ticket-bot', '--scope', 'api://gatehouse/.default', '--no-resource'],
        env: { GATEHOUSE_CLIENT_SECRET: '${input:gatehouse-client-secret}' },
      });
    });

    it('with a secret file, no secret variable at all', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'connector-cli-'));
      try {
        const file = path.join(dir, 'secret');
        writeFileSync(file, 'shh-very-secret\n');
        const run = await runConnector(['print-config', '--client', 'claude-desktop', '--url', URL_, '--client-id', 'bot', '--token-endpoint', 'https://idp.example.com/token', '--client-secret-file', file]);
        expect(run.code).to.equal(0);
        expect(run.stdout).not.to.include('shh-very-secret');
        const server = JSON.parse(run.stdout).mcpServers.gatehouse;
        expect(server.env).to.equal(undefined);
        expect(server.args).to.include('--client-secret-file').and.include(file);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
