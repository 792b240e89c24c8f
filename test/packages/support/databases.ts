import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { queryInTurn } from '../../../src/core/db/query-in-turn.js';

/**
 * Fresh PostgreSQL databases for the package tests, dropped by `close()`, reached through the server's Unix socket (a network namespace has no route to its TCP port).
 * Examples ask for theirs at once: they share one admin connection, connected once, whose queries run one at a time.
 */
export class Databases {
  private readonly made: string[] = [];
  private admin?: Promise<pg.Client>;

  private connection(url: string): Promise<pg.Client> {
    this.admin ??= (async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    })().catch((error: unknown) => {
      this.admin = undefined;
      throw error;
    });
    return this.admin;
  }

  async fresh(): Promise<string> {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('The examples run on PostgreSQL: set DATABASE_URL (as .ci/run does).');
    const admin = await this.connection(url);
    const name = `gh_docs_${process.pid}_${randomBytes(4).toString('hex')}`;
    await queryInTurn(admin, `drop database if exists ${name}`);
    await queryInTurn(admin, `create database ${name}`);
    this.made.push(name);
    const { user, socketDir } = { user: new URL(url).username || 'postgres', socketDir: '/var/run/postgresql' };
    return `postgres://${user}@${encodeURIComponent(socketDir)}/${name}`;
  }

  async close(): Promise<void> {
    if (!this.admin) return;
    const admin = await this.admin;
    this.admin = undefined;
    for (const name of this.made) await queryInTurn(admin, `drop database if exists ${name} with (force)`);
    await admin.end();
  }
}
