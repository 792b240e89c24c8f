import type pg from 'pg';

/**
 * The queries sent on a client through {@link queryInTurn}: the last one's settling. Kept on the
 * client itself (under a registered symbol) so that two copies of this module loaded in one process
 * still take turns on a client they share.
 */
const TURN = Symbol.for('gatehouse.db.queryTurn');

type WithTurn = pg.Client & { [TURN]?: Promise<unknown> };

/**
 * Run `text` on `client` once every query sent on it through this function before has settled. A
 * client held apart from the pool and used by more than one asynchronous path (a lock holder, say)
 * must never be handed a query while another is still running on it: pg queues such a query today
 * with a deprecation warning, and refuses it from pg 9 on.
 */
export function queryInTurn<Row extends pg.QueryResultRow = pg.QueryResultRow>(client: pg.Client, text: string, values?: unknown[]): Promise<pg.QueryResult<Row>> {
  const held = client as WithTurn;
  const previous = held[TURN] ?? Promise.resolve();
  const result = previous.then(() => client.query<Row>(text, values));
  held[TURN] = result.catch(() => undefined);
  return result;
}
