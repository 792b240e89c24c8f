import { injectable } from 'inversify';
import type { Policy, PolicyDecision } from '../../core/index.js';

const ALLOW: PolicyDecision = Object.freeze({ allow: true, reason: 'allowed: the Community Edition grants every authenticated caller every tool' });

/** The Community Edition's explicit policy: every authenticated principal may call every tool. */
@injectable()
export class AllowAllPolicy implements Policy {
  decide(): PolicyDecision {
    return ALLOW;
  }
}
