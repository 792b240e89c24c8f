/**
 * The documentation's examples, against the packed tarball installed into an empty project — what a
 * reader who installed the package and pasted an example gets:
 *
 * - every TypeScript block of README.md and docs/*.md (except `<!-- fragment -->`s) is type-checked
 *   against the INSTALLED package's .d.ts, with the project's own TypeScript;
 * - every such block not marked `<!-- no-run: <reason> -->` is executed with plain Node against the
 *   installed package's JavaScript, in a network namespace of its own (so the ports it documents,
 *   3000, 8080, 9464, are free), within {@link RUN_BOUND_MS}; its top level must complete, the ports
 *   it listens on must answer, and the examples named in {@link EXPECTED} must do what their text says;
 * - every `gatehouse` / `gatehouse-connector` command of the shell blocks is run: here, or in
 *   engine-tarball.test.ts / connector-tarball.test.ts (see {@link COMMANDS}); a new command in the
 *   docs fails this file until a test runs it (or its block says `<!-- no-run: <reason> -->`).
 *
 * The markers are described in scripts/doc-examples.ts and docs/releasing.md.
 */
import { expect } from 'chai';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliCommands, docBlocks, hostModules, moduleName, type DocBlock } from '../../scripts/doc-examples.js';
import { Databases } from './support/databases.js';
import { NPM_ENV, installedProject, pinned, root } from './support/packed.js';
import { runCommand, type Finished } from './support/processes.js';

/** How long one example may take to start (its top level, and its ports answering). */
const RUN_BOUND_MS = 60_000;
const SUPPORT = path.join(root, 'test', 'packages', 'support');

const blocks = docBlocks();
const typescript = blocks.filter((block) => block.kind === 'ts' && !block.fragment);
const runnable = typescript.filter((block) => !block.noRun);
const where = (block: DocBlock) => `${block.source}:${block.line}`;

interface Report {
  readonly completed?: boolean;
  readonly error?: string;
  readonly ports?: number[];
  readonly answers?: Record<string, { healthz: number | string; metrics: number | string }>;
  readonly call?: { content: unknown; isError?: boolean };
}

/** How many examples (or command sequences) run at once: each waits mostly on its database and process start-up. */
const CONCURRENCY = 3;

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
/** A promise that never rejects, so a run started early is never an unhandled rejection. */
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
const unwrap = <T>(settled: Settled<T>): T => {
  if (!settled.ok) throw settled.error;
  return settled.value;
};

/** Run at most `concurrency` of the given tasks at a time. */
function limiter(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** What an example must do beyond completing its top level without an error, found by a phrase of its code. */
interface Expectation {
  readonly source: string;
  readonly contains: string;
  /** The ports it listens on, in its own network namespace (default: none). */
  readonly ports: number[];
  /** Environment the example's text says to set. */
  readonly env?: Record<string, string>;
  /** Run before the example, in its working directory, with the installed CLI. */
  readonly prepare?: (cwd: string, env: NodeJS.ProcessEnv) => Promise<Record<string, string>>;
  /** Checks of the report and the printed output. */
  readonly check: (report: Report, output: string) => void;
}

const EXPECTED: Expectation[] = [
  {
    source: 'README.md',
    contains: "name: 'hello'",
    ports: [3000],
    // What the README's reader does next: a key from the CLI, then the tool from an MCP client.
    prepare: async (cwd, env) => {
      const created = await runCommand('npx', ['gatehouse', 'keys', 'create', '--tenant', 'acme', '--name', 'readme', '--scopes', 'mcp'], { cwd, env });
      expect(created.code, created.stderr).to.equal(0);
      const token = /^(ghk_\S+)$/m.exec(created.stdout)![1]!;
      return { EXAMPLE_CALL: JSON.stringify({ url: 'http://127.0.0.1:3000/api/mcp', token, tool: 'hello', arguments: { name: 'Ada' } }) };
    },
    check: (report) => {
      expect(report.answers![3000]!.healthz).to.equal(200);
      expect(report.call!.content).to.deep.equal([{ type: 'text', text: 'Hello Ada, from tenant acme' }]);
    },
  },
  {
    source: 'docs/deployment.md',
    contains: 'sessions: true',
    ports: [3000],
    check: (report) => expect(report.answers![3000]!.healthz).to.equal(200),
  },
  {
    source: 'docs/observability.md',
    contains: 'traceExporter: new OTLPTraceExporter()',
    ports: [8080],
    check: (report) => expect(report.answers![8080]!.healthz).to.equal(200),
  },
  {
    source: 'docs/observability.md',
    contains: 'GATEHOUSE_METRICS_TOKEN',
    ports: [],
    env: { GATEHOUSE_METRICS_TOKEN: 'a-scrape-token-of-32-characters!' },
    check: () => undefined,
  },
  {
    source: 'docs/observability.md',
    contains: 'metrics: { port: 9464',
    ports: [9464],
    check: (report, output) => {
      expect(output).to.include('http://0.0.0.0:9464/metrics');
      expect(report.answers![9464]!.metrics).to.equal(200);
    },
  },
];

function expectationOf(block: DocBlock): Expectation | undefined {
  return EXPECTED.find((expected) => expected.source === block.source && block.code.includes(expected.contains));
}

/** Run `command args` in a network namespace of its own, with only its loopback up. */
function isolated(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Finished> {
  return runCommand('unshare', ['--user', '--map-root-user', '--net', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', command, ...args], options);
}

/**
 * Documented commands that another package test runs (against the same installed packages), and the
 * file that runs them: it takes each from the docs word for word (`documentedCommand`), so the
 * command it runs is the one the reader pastes.
 */
export const RUN_ELSEWHERE: Record<string, string> = {
  'npx -y @gatehouse-mcp/connector --help': 'connector-tarball.test.ts',
  'npx -y --package=file:$PWD/dist/connector/gatehouse-mcp-connector-0.1.0.tgz gatehouse-connector --help': 'connector-tarball.test.ts',
  'npx -y @gatehouse-mcp/connector --url https://mcp.example.com/api/mcp': 'connector-tarball.test.ts',
  'npx -y @gatehouse-mcp/connector --url https://mcp.example.com/t/acme/api/mcp --issuer https://idp.example.com/realms/acme --client-id ticket-bot --scope mcp': 'connector-tarball.test.ts',
  'npx -y @gatehouse-mcp/connector print-config --client claude-desktop --url https://mcp.example.com/api/mcp': 'connector-tarball.test.ts',
  'npx -y @gatehouse-mcp/connector print-config --client cursor --url https://mcp.example.com/api/mcp': 'connector-tarball.test.ts',
  'npx -y @gatehouse-mcp/connector print-config --client vscode --url https://mcp.example.com/t/acme/api/mcp --issuer https://idp.example.com --client-id ticket-bot --scope mcp': 'connector-tarball.test.ts',
};

/** The documented commands (of shell blocks not marked no-run), each with where it is documented. */
function documentedCommands(): Map<string, string> {
  const commands = new Map<string, string>();
  for (const block of blocks.filter((candidate) => candidate.kind === 'sh' && !candidate.noRun)) {
    for (const command of cliCommands(block)) commands.set(command, where(block));
  }
  return commands;
}

describe('docs: every example of README.md and docs/*.md, against the installed tarball', function () {
  this.timeout(600_000);
  let project: string;
  let examples: string;
  let env: NodeJS.ProcessEnv;
  const databases = new Databases();

  before(async () => {
    env = { ...process.env, ...NPM_ENV };
    delete env.DATABASE_URL;
    // What the examples' readers install next to the package: TypeScript, Node's types, tsx (for a
    // gatehouse.config.ts) and the OpenTelemetry SDK the observability guide uses.
    project = await installedProject('doc-examples-', [
      pinned('typescript'),
      pinned('@types/node'),
      pinned('tsx'),
      pinned('@opentelemetry/sdk-node'),
      pinned('@opentelemetry/exporter-trace-otlp-http'),
    ], env);
    examples = path.join(project, 'examples');
    mkdirSync(examples, { recursive: true });
    typescript.forEach((block, index) => writeFileSync(path.join(examples, `${moduleName(block, index)}.ts`), `${block.code}\nexport {};\n`));
    for (const [file, code] of Object.entries(hostModules('../node_modules/@gatehouse-mcp/engine/dist'))) {
      mkdirSync(path.join(examples, file, '..'), { recursive: true });
      writeFileSync(path.join(examples, file), `${code}\n`);
    }
    for (const file of ['run-example.mjs', 'probe.mjs', 'export-audit.mjs']) copyFileSync(path.join(SUPPORT, file), path.join(project, file));
  });

  after(() => databases.close());

  it('type-checks every TypeScript example against the installed package’s declarations, and compiles it to JavaScript', async () => {
    writeFileSync(
      path.join(examples, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: ['node'],
          strict: true,
          experimentalDecorators: true,
          esModuleInterop: true,
          skipLibCheck: true, // as `tsc --init` sets it: the SDK's own declarations need the DOM library
          noUnusedLocals: false,
        },
        include: ['**/*.ts'],
      }),
    );
    const compiled = await runCommand(path.join(project, 'node_modules', '.bin', 'tsc'), ['-p', '.', '--pretty', 'false'], { cwd: examples, env });
    const errors = `${compiled.stdout}${compiled.stderr}`
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => {
        const match = /^(\d{3})-[^(]+\.ts\((\d+),(\d+)\): (.*)$/.exec(line);
        const block = match ? typescript[Number(match[1])] : undefined;
        return block ? `${block.source}:${block.line + Number(match![2]) - 1}:${match![3]}: ${match![4]}` : line;
      });
    expect(errors, 'type errors against the installed package').to.deep.equal([]);
    expect(compiled.code).to.equal(0);
  });

  it('finds every example it expects a particular behaviour of', () => {
    for (const expected of EXPECTED) expect(runnable.filter((block) => expectationOf(block) === expected), `${expected.source}: ${expected.contains}`).to.have.length(1);
  });

  describe('runs every example that is not a fragment or marked no-run', () => {
    /** Each example's run, started in `before`: several at once, each in its own namespace, working directory and database. */
    const runs = new Map<DocBlock, Promise<Settled<{ report: Report; output: string }>>>();

    async function runExample(block: DocBlock): Promise<{ report: Report; output: string }> {
      const expected = expectationOf(block);
      const index = typescript.indexOf(block);
      // A working directory inside the project: npx finds the installed CLI.
      const cwd = path.join(project, 'runs', moduleName(block, index));
      mkdirSync(cwd, { recursive: true });
      // Each on a fresh PostgreSQL database (DATABASE_URL, which every example's engine reads when no
      // URL is given): the embedded database's first start costs far more than the example itself.
      // The embedded database is what engine-tarball.test.ts runs the CLI on.
      const runEnv: NodeJS.ProcessEnv = { ...env, ...expected?.env, DATABASE_URL: await databases.fresh() };
      Object.assign(runEnv, await expected?.prepare?.(cwd, runEnv));
      const ran = await isolated(process.execPath, [path.join(project, 'run-example.mjs'), path.join(examples, `${moduleName(block, index)}.js`)], { cwd, env: runEnv, timeoutMs: RUN_BOUND_MS });
      const output = `${ran.stdout}${ran.stderr}`;
      const line = /^EXAMPLE-REPORT (.*)$/m.exec(ran.stdout);
      expect(line, `the example never finished its top level:\n${output}`).to.not.equal(null);
      return { report: JSON.parse(line![1]!) as Report, output };
    }

    before(() => {
      const limit = limiter(CONCURRENCY);
      for (const block of runnable) runs.set(block, settle(limit(() => runExample(block))));
    });

    for (const block of runnable) {
      const expected = expectationOf(block);
      it(`runs ${where(block)}${expected?.ports.length ? `: listens on ${expected.ports.join(', ')} and does what the text says` : ''}`, async () => {
        const { report, output } = unwrap(await runs.get(block)!);
        expect(report.error, output).to.equal(undefined);
        expect(report.ports, 'the ports it listens on').to.deep.equal(expected?.ports ?? []);
        expected?.check(report, output);
      });
    }
  });

  describe('the documented commands, against the installed package', () => {
    interface ShellOptions {
      readonly cwd: string;
      readonly env: NodeJS.ProcessEnv;
      readonly substitute?: Record<string, string>;
      readonly serves?: number;
      readonly then?: string;
    }
    const ran = new Set<string>();
    /** Each documented block's commands, in their order; the blocks run at once, each in its own directory, database and namespaces. */
    const sequences = new Map<string, () => Promise<void>>();
    const started = new Map<string, Promise<Settled<void>>>();
    const sequence = (title: string, steps: () => Promise<void>): void => {
      sequences.set(title, steps);
      it(title, async () => unwrap(await started.get(title)!));
    };
    before(() => {
      for (const [title, steps] of sequences) started.set(title, settle(steps()));
    });
    const bin = () => `${path.join(project, 'node_modules', '.bin')}:${process.env.PATH}`;

    /** A fresh working directory inside the project (npx finds the installed CLI) with its own database. */
    async function workspace(name: string): Promise<{ cwd: string; env: NodeJS.ProcessEnv; url: string }> {
      const cwd = path.join(project, 'runs', name);
      mkdirSync(cwd, { recursive: true });
      const url = await databases.fresh();
      return { cwd, url, env: { ...env, PATH: bin(), DATABASE_URL: url } };
    }

    /**
     * Run one documented command through the shell, as pasted, with `substitute` replacing what only
     * the reader's machine has (its database host, a key id from an earlier command). With `serves`,
     * the command runs in a network namespace of its own until that port answers /healthz, then
     * `then` runs there too (a client of the served engine), then Ctrl+C stops the command.
     */
    async function run(command: string, options: ShellOptions): Promise<Finished> {
      expect(documentedCommands().has(command), `documented: ${command}`).to.equal(true);
      ran.add(command);
      return shell(command, options);
    }

    /** Run a command line as {@link run} does, documented or not (a step that sets the stage). */
    async function shell(command: string, options: ShellOptions): Promise<Finished> {
      let line = command;
      for (const [from, to] of Object.entries(options.substitute ?? {})) line = line.split(from).join(to);
      if (!options.serves) return runCommand('sh', ['-c', line], { cwd: options.cwd, env: options.env });
      const script = [
        'ip link set lo up',
        'set -m',
        'sh -c "$DOC_COMMAND" &',
        'pid=$!',
        `node ${path.join(project, 'probe.mjs')} http://127.0.0.1:${options.serves}/healthz ${RUN_BOUND_MS}; code=$?`,
        'if [ $code -eq 0 ] && [ -n "$DOC_THEN" ]; then sh -c "$DOC_THEN"; code=$?; fi',
        'kill -INT -$pid 2>/dev/null; wait $pid; echo "COMMAND-EXIT $?"',
        'exit $code',
      ].join('\n');
      return runCommand('unshare', ['--user', '--map-root-user', '--net', 'bash', '-c', script], {
        cwd: options.cwd,
        env: { ...options.env, DOC_COMMAND: line, DOC_THEN: options.then ?? '' },
        timeoutMs: 3 * RUN_BOUND_MS,
      });
    }
    const ok = (result: Finished): string => {
      expect(result.code, `${result.stdout}${result.stderr}`).to.equal(0);
      return result.stdout;
    };
    const served = (result: Finished, port: number): void => {
      const output = ok(result);
      expect(output).to.include('PROBE 200');
      expect(output, 'stopped by Ctrl+C').to.match(/COMMAND-EXIT (0|130)\b/);
      expect(`${result.stdout}${result.stderr}`).to.not.match(/EADDRINUSE|already in use/);
      void port;
    };

    sequence('README.md “Command line”: serve, migrate, keys create|list|revoke, demo, audit verify and prune', async () => {
      const { cwd, env: runEnv } = await workspace('readme-commands');
      served(await run('npx gatehouse serve --port 3000 --public-url https://mcp.example.com', { cwd, env: runEnv, serves: 3000 }), 3000);
      expect(ok(await run('npx gatehouse migrate', { cwd, env: runEnv }))).to.include('Migrations are up to date (core).');
      const created = ok(await run('npx gatehouse keys create --tenant acme --name "ci bot" --scopes mcp --expires-in 90d', { cwd, env: runEnv }));
      const id = /Created key (\S+)/.exec(created)![1]!;
      expect(ok(await run('npx gatehouse keys list --tenant acme', { cwd, env: runEnv }))).to.match(new RegExp(`${id}\\s+\\S+\\s+active\\s+mcp\\s+ci bot`));
      expect(ok(await run('npx gatehouse keys revoke --tenant acme --id <key id>', { cwd, env: runEnv, substitute: { '<key id>': id } }))).to.include(`Revoked key ${id}.`);
      served(await run('npx gatehouse demo --port 3000', { cwd, env: runEnv, serves: 3000 }), 3000);
      expect(ok(await run('npx gatehouse audit verify --tenant acme --edition enterprise', { cwd, env: runEnv }))).to.match(/verif/i);
      // Pruning signs a checkpoint where each chain then starts: it takes the signing key from the environment (docs/security.md).
      await runCommand('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', 'audit-signing.pem'], { cwd });
      ok(await run('npx gatehouse audit prune --older-than 400d --edition enterprise', { cwd, env: { ...runEnv, GATEHOUSE_AUDIT_SIGNING_KEY_FILE: path.join(cwd, 'audit-signing.pem') } }));
    });

    sequence('docs/deployment.md: migrate and serve the Enterprise edition on PostgreSQL, and serve behind a pooler with its own LISTEN connection', async () => {
      const { cwd, env: runEnv, url } = await workspace('deployment-commands');
      const substitute = { 'postgres://gatehouse@db.internal:5432/gatehouse': url, 'postgres://gatehouse@pgbouncer.internal:6432/gatehouse': url };
      expect(ok(await run('DATABASE_URL=postgres://gatehouse@db.internal:5432/gatehouse npx gatehouse migrate --edition enterprise', { cwd, env: runEnv, substitute }))).to.match(
        /Migrations are up to date \(core, enterprise-edition\)\./,
      );
      served(
        await run('DATABASE_URL=postgres://gatehouse@db.internal:5432/gatehouse npx gatehouse serve --edition enterprise --host 0.0.0.0 --port 3000 --public-url https://mcp.example.com', { cwd, env: runEnv, substitute, serves: 3000 }),
        3000,
      );
      served(
        await run(
          'DATABASE_URL=postgres://gatehouse@pgbouncer.internal:6432/gatehouse DATABASE_LISTEN_URL=postgres://gatehouse@db.internal:5432/gatehouse npx gatehouse serve --edition enterprise --public-url https://mcp.example.com',
          { cwd, env: runEnv, substitute, serves: 3000 },
        ),
        3000,
      );
    });

    sequence('docs/security.md: audit verify of the database, of a time range and of an export against the published checkpoints, and prune', async () => {
      const { cwd, env: runEnv } = await workspace('security-commands');
      // The keys as the text makes them, and an engine that signs checkpoints and publishes them to a file.
      for (const args of [['genpkey', '-algorithm', 'ed25519', '-out', 'audit-signing.pem'], ['pkey', '-in', 'audit-signing.pem', '-pubout', '-out', 'audit-signing.pub.pem']]) {
        expect((await runCommand('openssl', args, { cwd })).code).to.equal(0);
      }
      const published = path.join(cwd, 'gatehouse-checkpoints.jsonl');
      const signing = { ...runEnv, GATEHOUSE_AUDIT_SIGNING_KEY_FILE: path.join(cwd, 'audit-signing.pem'), GATEHOUSE_AUDIT_CHECKPOINT_FILE: published };
      const admin = ok(await runCommand('npx', ['gatehouse', 'keys', 'create', '--tenant', 'acme', '--scopes', 'admin'], { cwd, env: runEnv }));
      const adminKey = /^(ghk_\S+)$/m.exec(admin)![1]!;
      // An admin change is audited; its export is saved while the engine runs; the final checkpoint is published at shutdown.
      const serving = await shell('npx gatehouse serve --edition enterprise --port 3000', {
        cwd,
        env: { ...signing, GATEHOUSE_ADMIN_KEY: adminKey },
        serves: 3000,
        then: `node ${path.join(project, 'export-audit.mjs')} http://127.0.0.1:3000/t/acme export.jsonl`,
      });
      expect(ok(serving)).to.match(/EXPORTED [1-9]\d* lines/);
      expect(readFileSync(published, 'utf8'), 'a checkpoint was published').to.include('"tenant":"acme"');

      const verified = ok(await run('gatehouse audit verify --tenant acme --public-key audit-signing.pub.pem', { cwd, env: runEnv }));
      expect(verified).to.match(/verif/i);
      ok(await run('gatehouse audit verify --tenant acme --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --public-key audit-signing.pub.pem', { cwd, env: runEnv }));
      ok(
        await run('gatehouse audit verify --file export.jsonl --public-key audit-signing.pub.pem --checkpoints /mnt/worm/gatehouse-checkpoints.jsonl', {
          cwd,
          env: runEnv,
          substitute: { '/mnt/worm/gatehouse-checkpoints.jsonl': published },
        }),
      );
      ok(await run('gatehouse audit prune --older-than 400d', { cwd, env: signing }));
    });

    it('every documented gatehouse and gatehouse-connector command is run by a package test', () => {
      const missing: string[] = [];
      for (const [command, source] of documentedCommands()) {
        const elsewhere = RUN_ELSEWHERE[command];
        if (elsewhere) {
          const text = readFileSync(path.join(root, 'test', 'packages', elsewhere), 'utf8');
          if (!text.includes(JSON.stringify(command).slice(1, -1)) && !text.includes(command)) missing.push(`${source}: ${command} (said to be run by ${elsewhere}, which does not name it)`);
        } else if (!ran.has(command)) missing.push(`${source}: ${command}`);
      }
      for (const command of Object.keys(RUN_ELSEWHERE)) if (!documentedCommands().has(command)) missing.push(`no longer documented: ${command}`);
      expect(missing, 'documented commands no package test runs: run them, or mark the block <!-- no-run: <reason> -->').to.deep.equal([]);
    });
  });
});
