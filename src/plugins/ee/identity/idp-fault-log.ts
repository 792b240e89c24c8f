import { inject, injectable } from 'inversify';
import { ChangeFeed, Logger, safeLog } from '../../../core/index.js';
import { IDENTITY_CHANGED } from './credential-cache.js';
import { EnterpriseSettings } from './enterprise-options.js';
import { IdpProviderStore, type IdpProvider } from './idp-provider-store.js';
import { UnusableKeyError } from './remote-key-set.js';

/**
 * What is wrong with an IdP's keys: unreachable (JWKS or discovery), a published key that cannot be
 * used, or a discovery that failed while what an earlier one found stays in use.
 */
type FaultKind = 'unavailable' | 'unusable-key' | 'stale-discovery';

interface Fault {
  readonly kind: FaultKind;
  readonly idpId: string;
  readonly tenant: string;
  /** The provider's issuer when the fault began. */
  readonly issuer: string;
  /** With `unusable-key`: the id of the key that cannot be used ('' for tokens without one). */
  readonly kid: string;
  readonly since: number;
  /** Verifications affected (refused; with stale discovery, served from the last discovery) since the fault began. */
  total: number;
  /** Verifications affected since the last line about it. */
  unreported: number;
  lastLineAt: number;
  reason: string;
}

const keyOf = (kind: FaultKind, idpId: string, kid: string): string => `${kind} ${idpId} ${kid}`;

const LINES: Readonly<Record<FaultKind, { readonly start: string; readonly ongoing: string; readonly end: string }>> = {
  unavailable: { start: 'identity provider keys unavailable', ongoing: 'identity provider keys still unavailable', end: 'identity provider keys available again' },
  'unusable-key': { start: 'identity provider publishes an unusable key', ongoing: 'identity provider still publishes an unusable key', end: 'identity provider publishes usable keys again' },
  'stale-discovery': {
    start: 'identity provider discovery failed; the last discovered keys stay in use',
    ongoing: 'identity provider discovery still failing; the last discovered keys stay in use',
    end: 'identity provider discovery available again',
  },
};

/** The line that closes a fault whose provider can no longer meet a verification. */
const LINES_CLOSED = {
  deleted: 'identity provider fault no longer followed: the provider was deleted',
  deactivated: 'identity provider fault no longer followed: the provider was deactivated',
} as const;

/**
 * The log of an IdP's faults as they affect token verification: one warning when a fault begins
 * (per IdP and kind), then at most one summary per `idpFaultLogIntervalMs` with how many
 * verifications it refused meanwhile, and one line when the fault is over: the keys serve a
 * verification again (unavailable), the discovery is read again (stale discovery), or the key that
 * could not be used is usable or no longer published (unusable key: one fault per key id, so a
 * broken key published beside good ones is not announced anew after every good token). During an
 * outage every token is refused for the same reason; a line per token would bury the log. A fault
 * whose provider is deleted or deactivated (here or on another instance) meets no verification
 * again: it is closed then, with one line saying why, instead of being followed for ever.
 */
@injectable()
export class IdpFaultLog {
  private readonly faults = new Map<string, Fault>();

  constructor(
    @inject(Logger) private readonly logger: Logger,
    @inject(EnterpriseSettings) private readonly settings: EnterpriseSettings,
    @inject(IdpProviderStore) private readonly providers: IdpProviderStore,
    @inject(ChangeFeed) changes: ChangeFeed,
  ) {
    changes.subscribe(IDENTITY_CHANGED, (payload) => {
      if (typeof payload.tenant === 'string') void this.review(payload.tenant);
    });
  }

  /**
   * A verification for `idp` in `tenant` was refused because of `error`, the IdP's fault (with
   * `stale-discovery`: served from the last discovery because the current one failed with `error`).
   */
  failed(idp: IdpProvider, tenant: string, kind: FaultKind, error: Error): void {
    const kid = kind === 'unusable-key' && error instanceof UnusableKeyError ? error.kid : '';
    const key = keyOf(kind, idp.id, kid);
    const now = Date.now();
    const fault = this.faults.get(key);
    if (!fault) {
      this.faults.set(key, { kind, idpId: idp.id, tenant, issuer: idp.issuer, kid, since: now, total: 1, unreported: 0, lastLineAt: now, reason: error.message });
      safeLog(this.logger, 'warn', { err: error, tenant, issuer: idp.issuer, idpId: idp.id, ...(kind === 'unusable-key' ? { kid } : {}), reason: error.message }, LINES[kind].start);
      return;
    }
    fault.total++;
    fault.unreported++;
    fault.reason = error.message;
    if (now - fault.lastLineAt < this.settings.idpFaultLogIntervalMs) return;
    safeLog(
      this.logger,
      'warn',
      { tenant, issuer: idp.issuer, idpId: idp.id, ...(kind === 'unusable-key' ? { kid } : {}), reason: fault.reason, affected: fault.unreported, total: fault.total, since: new Date(fault.since).toISOString(), durationMs: now - fault.since },
      LINES[kind].ongoing,
    );
    fault.unreported = 0;
    fault.lastLineAt = now;
  }

  /** The IdP's keys served a verification: an outage of `idp`, if any, is over. */
  available(idp: IdpProvider): void {
    this.over(idp, 'unavailable');
  }

  /**
   * `idp`'s keys served a verification: each unusable key `usable` says is usable now (it served
   * this verification, or the IdP no longer publishes it) is over, one line each.
   */
  keysUsable(idp: IdpProvider, usable: (kid: string) => boolean): void {
    if (this.faults.size === 0) return;
    for (const [key, fault] of this.faults) {
      if (fault.kind === 'unusable-key' && fault.idpId === idp.id && usable(fault.kid)) this.end(key, fault, idp);
    }
  }

  /** A fault of `kind` of `idp`, if any, is over (one line saying so). */
  over(idp: IdpProvider, kind: Exclude<FaultKind, 'unusable-key'>): void {
    if (this.faults.size === 0) return;
    const key = keyOf(kind, idp.id, '');
    const fault = this.faults.get(key);
    if (fault) this.end(key, fault, idp);
  }

  /**
   * `tenant`'s providers changed: a fault of a provider that is gone or no longer trusted will meet
   * no verification again, so it is closed now (one line each). A lookup that fails leaves the
   * faults as they are (the next change looks again).
   */
  private async review(tenant: string): Promise<void> {
    const followed = [...this.faults].filter(([, fault]) => fault.tenant === tenant);
    if (followed.length === 0) return;
    const seen = new Map<string, Promise<IdpProvider | undefined>>();
    for (const [key, fault] of followed) {
      let provider: IdpProvider | undefined;
      // Several faults of one provider (unusable keys) share one lookup.
      try {
        let lookup = seen.get(fault.idpId);
        if (!lookup) seen.set(fault.idpId, (lookup = this.providers.get(tenant, fault.idpId)));
        provider = await lookup;
      } catch (error) {
        safeLog(this.logger, 'debug', { err: error, tenant, idpId: fault.idpId }, 'could not look up an identity provider with a fault after a change');
        continue;
      }
      if (provider?.active) continue;
      if (this.faults.get(key) !== fault) continue;
      this.faults.delete(key);
      this.line(fault, provider?.issuer ?? fault.issuer, LINES_CLOSED[provider ? 'deactivated' : 'deleted'], { provider: provider ? 'deactivated' : 'deleted' });
    }
  }

  private end(key: string, fault: Fault, idp: IdpProvider): void {
    this.faults.delete(key);
    this.line(fault, idp.issuer, LINES[fault.kind].end);
  }

  private line(fault: Fault, issuer: string, message: string, extra: Record<string, unknown> = {}): void {
    const now = Date.now();
    safeLog(
      this.logger,
      'info',
      {
        tenant: fault.tenant,
        issuer,
        idpId: fault.idpId,
        ...(fault.kind === 'unusable-key' ? { kid: fault.kid } : {}),
        lastReason: fault.reason,
        affected: fault.unreported,
        total: fault.total,
        since: new Date(fault.since).toISOString(),
        durationMs: now - fault.since,
        ...extra,
      },
      message,
    );
  }
}
