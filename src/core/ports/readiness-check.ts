/** One dependency's state, as `/readyz` reports it. */
export interface ReadinessResult {
  readonly ok: boolean;
  /** Why it is not ready (or a remark when it is), for an operator; never a secret. */
  readonly reason?: string;
}

/**
 * A check behind `GET /readyz`, contributed by a plugin (or a core service) whose dependency must
 * be up for this instance to take traffic: a listening connection, an upstream, a queue. The core
 * checks the database, migrations and audit sink itself. A check should answer within a second;
 * one that throws or takes longer than 2 s counts as not ready.
 */
export interface ReadinessCheck {
  /** Short and stable: the key of this check in the `/readyz` body, e.g. `listen`. */
  readonly name: string;
  check(): Promise<ReadinessResult>;
}

export const ReadinessCheck = Symbol.for('gatehouse.ReadinessCheck');
