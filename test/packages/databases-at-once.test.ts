import { expect } from 'chai';
import { watchOverlappingQueries } from '../support/overlapping-queries.js';
import { Databases } from './support/databases.js';

/**
 * The package tests start three examples at once, each asking for a database of its own: the
 * requests shared one admin connection and sent their queries on it while another was running
 * (pg's "already executing a query" warning, a refusal from pg 9 on).
 */
describe('package tests: databases asked for at once', function () {
  if (!process.env.DATABASE_URL) before(function () { this.skip(); });

  it('are made and dropped one query at a time on the admin connection', async () => {
    const databases = new Databases();
    const watch = watchOverlappingQueries();
    let urls: string[];
    try {
      urls = await Promise.all([databases.fresh(), databases.fresh(), databases.fresh(), databases.fresh()]);
      await databases.close();
    } finally {
      watch.stop();
    }
    expect(new Set(urls).size).to.equal(4);
    expect(watch.overlaps, 'queries sent on a busy connection').to.deep.equal([]);
    expect(watch.warnings).to.deep.equal([]);
  });
});
