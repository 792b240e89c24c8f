import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import pg from 'pg';
import { freshDatabase, testDatabase } from '@gatehouse-mcp/engine/testing';
import { watchOverlappingQueries } from '../support/overlapping-queries.js';

const url = process.env.DATABASE_URL;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The test kit's schemas on the server. */
async function kitSchemas(): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`select nspname as name from pg_namespace where nspname like 'gh\\_%'`);
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

/**
 * Wait until no process holds the test kit's lock on `schema`: PostgreSQL ends a dead client's
 * backend (and frees its locks) a moment after the client is gone.
 */
async function lockFreed(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const deadline = Date.now() + 10_000; ; ) {
      const { rows } = await client.query<{ held: boolean }>(
        `select exists (select 1 from pg_locks where locktype = 'advisory' and classid = 7240051 and objsubid = 2 and objid::bigint = (hashtext($1)::bigint & 4294967295)) as held`,
        [schema],
      );
      if (!rows[0]?.held) return;
      if (Date.now() > deadline) throw new Error(`the lock on ${schema} is still held`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await client.end();
  }
}

/**
 * A test process that takes a test schema and a fresh one and names them on its first line, then
 * exits without dropping them (`exit`) or keeps running until it is killed.
 */
function testProcess(then: 'exit' | 'run'): { child: ChildProcess; schemas: Promise<string[]>; exited: Promise<unknown> } {
  const script = `
    import { testDatabase, freshDatabase } from '@gatehouse-mcp/engine/testing';
    const knex = await testDatabase();
    const fresh = await freshDatabase();
    const schemas = (await knex.raw('select current_schema() as s')).rows[0].s + ' ' + (await fresh.knex.raw('select current_schema() as s')).rows[0].s;
    process.stdout.write(schemas + '\\n');
    ${then === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
  `;
  const child = spawn(process.execPath, ['--conditions=gatehouse-source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: process.env });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const schemas = new Promise<string[]>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim().split(' '));
    });
    void exited.then(() => reject(new Error(`the test process ended without its schemas: ${err}`)));
  });
  return { child, schemas, exited };
}

(url ? describe : describe.skip)('test kit: schemas on a PostgreSQL server', function () {
  this.timeout(60_000);

  for (const how of ['SIGKILL', 'exit'] as const) {
    it(`drops the schemas of a test process that ended without dropping them (${how === 'exit' ? 'exited without closeTestDatabase' : 'killed'}) when another one takes a schema`, async () => {
      const abandoned = testProcess(how === 'exit' ? 'exit' : 'run');
      const left = await abandoned.schemas;
      if (how === 'SIGKILL') abandoned.child.kill('SIGKILL');
      await abandoned.exited;
      expect(left).to.have.length(2);
      expect(await kitSchemas()).to.include.members(left);
      for (const schema of left) await lockFreed(schema);

      const mine = await testDatabase();
      const ownSchema = (await mine.raw('select current_schema() as s')).rows[0].s as string;
      const fresh = await freshDatabase();
      try {
        const schemas = await kitSchemas();
        expect(schemas).to.not.include(left[0]);
        expect(schemas).to.not.include(left[1]);
        // This process's own schemas are alive and kept.
        expect(schemas).to.include(ownSchema);
        expect(schemas).to.include((await fresh.knex.raw('select current_schema() as s')).rows[0].s);
      } finally {
        await fresh.close();
      }
    });
  }

  it('a process that loads the kit twice (once by require, once by import, as mocha does with a TypeScript loader) takes one schema, dropped by either copy’s closeTestDatabase (the full test run left one schema behind)', async () => {
    const script = `
      import { createRequire } from 'node:module';
      import * as imported from '@gatehouse-mcp/engine/testing';
      const required = createRequire(import.meta.url)('@gatehouse-mcp/engine/testing');
      const schemaOf = async (kit) => (await (await kit.testDatabase()).raw('select current_schema() as s')).rows[0].s;
      const schemas = [imported.testDatabase !== required.testDatabase, await schemaOf(imported), await schemaOf(required)];
      await required.closeTestDatabase();
      process.stdout.write(JSON.stringify(schemas));
    `;
    const child = spawn(process.execPath, ['--conditions=gatehouse-source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: process.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code, err).to.equal(0);
    const [twoCopies, first, second] = JSON.parse(out) as [boolean, string, string];
    expect(twoCopies, 'the module was loaded twice').to.equal(true);
    expect(second).to.equal(first);
    expect(await kitSchemas()).to.not.include(first);
  });

  it('fresh databases asked for at once, and closed at once, take turns on the connection that holds the schema locks (it was sent a query while running another)', async () => {
    const watch = watchOverlappingQueries();
    let schemas: string[] = [];
    try {
      const fresh = await Promise.all([freshDatabase(), freshDatabase(), freshDatabase(), freshDatabase()]);
      schemas = await Promise.all(fresh.map(async (db) => (await db.knex.raw('select current_schema() as s')).rows[0].s as string));
      await Promise.all(fresh.map((db) => db.close()));
    } finally {
      watch.stop();
    }
    expect(new Set(schemas).size).to.equal(4);
    const left = await kitSchemas();
    for (const schema of schemas) expect(left).to.not.include(schema);
    expect(watch.overlaps, 'queries sent on a busy connection').to.deep.equal([]);
    expect(watch.warnings).to.deep.equal([]);
  });

  it('leaves the schemas of a test process that is still running alone', async () => {
    const running = testProcess('run');
    let schemas: string[] = [];
    try {
      schemas = await running.schemas;
      const fresh = await freshDatabase();
      await fresh.close();
      expect(await kitSchemas()).to.include.members(schemas);
    } finally {
      running.child.kill('SIGKILL');
      await running.exited;
      // Taking a schema again drops the ones the killed process leaves.
      for (const schema of schemas) await lockFreed(schema);
      await (await freshDatabase()).close();
    }
  });
});
