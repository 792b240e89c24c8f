/**
 * A database that cannot be used at start-up (a wrong URL, a server that is down, a database or
 * role that does not exist) is named in the error, without its password, and the driver's lines
 * carry no stack trace. Before, the CLI said "unexpected error: connect ECONNREFUSED …" after a
 * log line holding the driver's stack, and took any text for a host name.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { BootError, ConfigError, PinoLogger, openDatabase } from '@gatehouse-mcp/engine';
import { closedPort } from '../connector/support/local-servers.js';

const URL_ = process.env.DATABASE_URL;
const root = fileURLToPath(new URL('../..', import.meta.url));

async function refusal(open: Promise<unknown>): Promise<Error> {
  try {
    await open;
  } catch (error) {
    return error as Error;
  }
  throw new Error('the database was opened');
}

describe('a database that cannot be used at start-up', function () {
  this.timeout(30_000);

  it('a connection string that is not a PostgreSQL URL is refused before anything is tried, naming its source', async () => {
    const notUrl = await refusal(openDatabase({ url: 'host=db dbname=gatehouse' }));
    expect(notUrl).to.be.instanceOf(ConfigError);
    expect(notUrl.message).to.equal('database.url is not a URL: write postgres://user:password@host:5432/database.');
    const http = await refusal(openDatabase({ url: 'http://user:secret@db.example/gatehouse' }));
    expect(http).to.be.instanceOf(ConfigError);
    expect(http.message).to.equal('database.url is not a PostgreSQL URL (http://user@db.example/gatehouse): write postgres://user:password@host:5432/database.');
    const listen = await refusal(openDatabase({ url: 'postgres://db.example/gatehouse', listenUrl: 'db.example' }));
    expect(listen).to.be.instanceOf(ConfigError);
    expect(listen.message).to.equal('database.listenUrl is not a URL: write postgres://user:password@host:5432/database.');
  });

  it("the Unix-socket forms the driver reads pass the check (a path, an empty host, the host parameter); they were refused as not a URL", async function () {
    const server = URL_ ? new URL(URL_) : undefined;
    const dir = '/var/run/postgresql';
    if (!server || !existsSync(`${dir}/.s.PGSQL.${server.port || 5432}`)) this.skip();
    const port = server!.port || '5432';
    const user = decodeURIComponent(server!.username);
    const database = server!.pathname.slice(1);
    const forms = [
      `postgresql://${user}@/${database}?host=${dir}&port=${port}`,
      `postgresql:///${database}?host=${dir}&port=${port}&user=${user}`,
      `postgresql://${user}@${encodeURIComponent(dir)}:${port}/${database}`,
      `socket:${dir}/?db=${database}&user=${user}`,
    ];
    for (const url of forms) {
      const db = await openDatabase({ url, pool: { min: 0, max: 1 } });
      try {
        const { rows } = (await db.knex.raw('select current_user as name')) as { rows: { name: string }[] };
        expect(rows[0]!.name, url).to.equal(user);
      } finally {
        await db.close();
      }
    }
    // A path and a database name: whoever the process runs as may have no role there, but it is not a configuration error.
    const quiet = new PinoLogger('warn', { write: () => undefined });
    const path_ = await refusal(openDatabase({ url: `${dir} ${database}`, pool: { min: 0, max: 1 } }, { logger: quiet }).then((db) => db.close()));
    expect(path_).not.to.be.instanceOf(ConfigError);
  });

  it('a server that is not there: which one (without the password), and what to check; the driver logs one line, no stack', async () => {
    const port = await closedPort();
    const lines: Record<string, unknown>[] = [];
    const logger = new PinoLogger('warn', { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const error = await refusal(openDatabase({ url: `postgres://gatehouse:secret@127.0.0.1:${port}/gatehouse` }, { logger }));
    expect(error).to.be.instanceOf(BootError);
    expect(error.message).to.equal(
      `Cannot connect to the database at postgres://gatehouse@127.0.0.1:${port}/gatehouse: connect ECONNREFUSED 127.0.0.1:${port}. ` +
        'Check database.url and that PostgreSQL is running and reachable there.',
    );
    expect((error.cause as { code?: string }).code).to.equal('ECONNREFUSED');
    const driver = lines.filter((line) => line.component === 'database');
    expect(driver.map((line) => line.msg)).to.deep.equal([`Acquire connection error: Error: connect ECONNREFUSED 127.0.0.1:${port}`]);
  });

  (URL_ ? it : it.skip)('a server that answers but refuses: a database that does not exist, a password in the URL never shown', async () => {
    const url = new URL(URL_!);
    url.pathname = '/gatehouse_no_such_database';
    url.password = 'not-the-password';
    const lines: string[] = [];
    const error = await refusal(openDatabase({ url: url.href }, { logger: new PinoLogger('warn', { write: (line) => lines.push(line) }) }));
    expect(error).to.be.instanceOf(BootError);
    expect(lines.join('')).not.to.include('not-the-password');
    url.password = '';
    expect(error.message).to.equal(`The database server at ${url.href} refused the connection: database "gatehouse_no_such_database" does not exist. Check database.url.`);
    expect(error.message).not.to.include('not-the-password');
  });

  it('an embedded database whose directory cannot be made, or holds files of something else, is named with what went wrong', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gh-embedded-'));
    try {
      await writeFile(path.join(dir, 'a-file'), 'not a directory');
      const underFile = await refusal(openDatabase({ embedded: true, dataDir: path.join(dir, 'a-file', 'data') }));
      expect(underFile).to.be.instanceOf(BootError);
      expect(underFile.message).to.match(new RegExp(`^The embedded database's directory ${dir}/a-file/data could not be created: ENOTDIR: not a directory`));
      const foreign = path.join(dir, 'foreign');
      await mkdir(foreign);
      await writeFile(path.join(foreign, 'PG_VERSION'), 'not a database');
      const lines: string[] = [];
      const notOurs = await refusal(openDatabase({ embedded: true, dataDir: foreign }, { logger: new PinoLogger('warn', { write: (line) => lines.push(line) }) }));
      expect(notOurs).to.be.instanceOf(BootError);
      expect(notOurs.message).to.equal(
        `The embedded database in ${foreign} could not be opened: PGlite failed to initialize properly. Its directory must hold only an embedded database's files (or nothing yet).`,
      );
      // Nothing is left locked: a good directory next to it opens.
      const good = await openDatabase({ embedded: true, dataDir: path.join(dir, 'good') });
      await good.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the gatehouse CLI says so in one line and exits 1, not "unexpected error" after a stack trace', async () => {
    const port = await closedPort();
    const child = spawn(process.execPath, ['--conditions=gatehouse-source', '--import', 'tsx', path.join(root, 'src/cli/gatehouse.ts'), 'serve'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: `postgres://gatehouse:secret@127.0.0.1:${port}/gatehouse` },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).to.equal(1);
    const said = stderr.split('\n').filter((line) => line.startsWith('gatehouse: '));
    expect(said).to.deep.equal([
      `gatehouse: Cannot connect to the database at postgres://gatehouse@127.0.0.1:${port}/gatehouse: connect ECONNREFUSED 127.0.0.1:${port}. ` +
        'Check DATABASE_URL and that PostgreSQL is running and reachable there.',
    ]);
    expect(stderr).not.to.match(/\n\s+at /);
    expect(stderr).not.to.include('secret');
  });
});
