import { injectable } from 'inversify';
import type { AuditSink } from '../../core/index.js';

/** The Community Edition keeps no audit trail. Bound explicitly, so the choice is visible. */
@injectable()
export class NoopAuditSink implements AuditSink {
  readonly recordsNothing = true;
  record(): void {}
  accepting(): boolean {
    return true;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
