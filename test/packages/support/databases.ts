import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Fresh PostgreSQL databases for the package tests, dropped by `close()`, reached through the server's Unix socket (a network namespace has no route to its TCP port). */
export class Databases {
  private readonly made: string[] = [];
  private admin?: pg.Client;

  async fresh(): Promise<string> {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('The examples run on PostgreSQL: set DATABASE_URL (as .ci/run does).');
    if (!this.admin) {
      this.admin = new pg.Client({ connectionString: url });
      await this.admin.connect();
    }
    const name = `gh_docs_${process.pid}_${randomBytes(4).toString('hex')}`;
    await this.admin.query(`drop database if exists ${name}`);
    await this.admin.query(`create database ${name}`);
    this.made.push(name);
    const { user, socketDir } = { user: new URL(url).username || 'postgres', socketDir: '/var/run/postgresql' };
    return `postgres://${user}@${encodeURIComponent(socketDir)}/${name}`;
  }

  async close(): Promise<void> {
    if (!this.admin) return;
    for (const name of this.made) await this.admin.query(`drop database if exists ${name} with (force)`);
    await this.admin.end();
  }
}

