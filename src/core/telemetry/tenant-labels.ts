/** The label of every tenant outside the labelled set. Never a tenant id (those start alphanumeric). */
export const OTHER_TENANTS = '_other';

/**
 * The cardinality bound of per-tenant metrics: at most `limit` tenants carry a label of their own
 * at any time — the busiest ones by requests seen since start — and every other tenant is counted
 * under {@link OTHER_TENANTS}. A tenant enters the set when its count passes the smallest count in
 * it; the tenant it replaces is handed to `evicted` (whose series the built-in endpoint drops).
 */
export class TenantLabels {
  private readonly counts = new Map<string, number>();
  private readonly labelled = new Set<string>();
  private readonly maxTracked: number;

  constructor(
    private readonly limit: number,
    private readonly evicted: (tenant: string) => void = () => undefined,
  ) {
    this.maxTracked = Math.max(10_000, limit * 100);
  }

  label(tenant: string): string {
    if (this.limit <= 0) return OTHER_TENANTS;
    const count = (this.counts.get(tenant) ?? 0) + 1;
    this.counts.set(tenant, count);
    if (this.labelled.has(tenant)) return tenant;
    if (this.labelled.size < this.limit) {
      this.labelled.add(tenant);
      return tenant;
    }
    let smallest: string | undefined;
    let smallestCount = Infinity;
    for (const candidate of this.labelled) {
      const candidateCount = this.counts.get(candidate)!;
      if (candidateCount < smallestCount) {
        smallest = candidate;
        smallestCount = candidateCount;
      }
    }
    if (count > smallestCount && smallest !== undefined) {
      this.labelled.delete(smallest);
      this.labelled.add(tenant);
      this.evicted(smallest);
      return tenant;
    }
    if (this.counts.size > this.maxTracked) this.forgetUnlabelled();
    return OTHER_TENANTS;
  }

  /** Keeps the tracking memory bounded: unlabelled tenants start counting again. */
  private forgetUnlabelled(): void {
    for (const tenant of this.counts.keys()) if (!this.labelled.has(tenant)) this.counts.delete(tenant);
  }
}
