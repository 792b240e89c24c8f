/**
 * A service with work to do when the engine starts (after migrations) or stops (after in-flight
 * requests have drained). Bound by plugins as a contribution; started in registration order and
 * stopped in reverse.
 */
export interface LifecycleContribution {
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export const LifecycleContribution = Symbol.for('gatehouse.LifecycleContribution');
