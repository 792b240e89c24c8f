import type {
  BatchObservableCallback,
  Counter,
  Gauge,
  Histogram,
  Meter,
  MeterProvider,
  MetricAttributes,
  MetricOptions,
  ObservableCallback,
  ObservableCounter,
  ObservableGauge,
  ObservableResult,
  ObservableUpDownCounter,
  UpDownCounter,
} from '@opentelemetry/api';

type Kind = 'counter' | 'gauge' | 'histogram';

interface Series {
  readonly attributes: MetricAttributes;
  value: number;
  /** Histograms: observations per bucket (not cumulative), the last one for +Inf. */
  readonly buckets?: number[];
  sum: number;
}

const DEFAULT_BOUNDARIES = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const sanitize = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
const number = (value: number): string => (value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : Number.isNaN(value) ? 'NaN' : String(value));

/** The Prometheus name of an OpenTelemetry instrument: dots to underscores, unit and `_total` suffixes. */
export function prometheusName(name: string, unit: string | undefined, kind: Kind, monotonic: boolean): string {
  let result = sanitize(name);
  const suffix = unit === 's' ? 'seconds' : unit === 'ms' ? 'milliseconds' : unit === 'By' ? 'bytes' : undefined;
  if (suffix && !result.endsWith(`_${suffix}`)) result += `_${suffix}`;
  if (kind === 'counter' && monotonic && !result.endsWith('_total')) result += '_total';
  return result;
}

class Family {
  readonly series = new Map<string, Series>();
  readonly callbacks = new Set<ObservableCallback>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: Kind,
    readonly monotonic: boolean,
    readonly boundaries: readonly number[],
  ) {}

  private seriesOf(attributes: MetricAttributes = {}): Series {
    const key = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let series = this.series.get(key);
    if (!series) {
      series = { attributes: { ...attributes }, value: 0, sum: 0, buckets: this.kind === 'histogram' ? new Array<number>(this.boundaries.length + 1).fill(0) : undefined };
      this.series.set(key, series);
    }
    return series;
  }

  add(value: number, attributes?: MetricAttributes): void {
    if (!Number.isFinite(value) || (this.monotonic && value < 0)) return;
    this.seriesOf(attributes).value += value;
  }

  set(value: number, attributes?: MetricAttributes): void {
    if (Number.isFinite(value)) this.seriesOf(attributes).value = value;
  }

  observe(value: number, attributes?: MetricAttributes): void {
    if (!Number.isFinite(value) || value < 0) return;
    const series = this.seriesOf(attributes);
    let index = 0;
    while (index < this.boundaries.length && value > this.boundaries[index]!) index++;
    series.buckets![index]!++;
    series.value++;
    series.sum += value;
  }

  render(lines: string[]): void {
    if (this.series.size === 0) return;
    lines.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.kind}`);
    for (const series of this.series.values()) {
      const labels = Object.entries(series.attributes).map(([key, value]) => `${sanitize(key)}="${escapeLabel(String(value))}"`);
      const braces = (extra: string[] = []): string => {
        const all = [...labels, ...extra];
        return all.length ? `{${all.join(',')}}` : '';
      };
      if (this.kind !== 'histogram') {
        lines.push(`${this.name}${braces()} ${number(series.value)}`);
        continue;
      }
      let cumulative = 0;
      this.boundaries.forEach((bound, index) => {
        cumulative += series.buckets![index]!;
        lines.push(`${this.name}_bucket${braces([`le="${number(bound)}"`])} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${braces(['le="+Inf"'])} ${series.value}`);
      lines.push(`${this.name}_sum${braces()} ${number(series.sum)}`, `${this.name}_count${braces()} ${series.value}`);
    }
  }
}

/**
 * A small OpenTelemetry `MeterProvider` that keeps its instruments' current values in memory and
 * renders them in the Prometheus text exposition format (version 0.0.4). It backs the engine's
 * built-in `/metrics` endpoint, so that endpoint needs no OpenTelemetry SDK; hosts that run the
 * SDK get the same instruments through the global meter provider as well.
 */
export class PrometheusRegistry implements MeterProvider {
  private readonly families = new Map<string, Family>();
  private readonly meter: Meter;

  constructor() {
    const family = (name: string, options: MetricOptions | undefined, kind: Kind, monotonic: boolean): Family => {
      const promName = prometheusName(name, options?.unit, kind, monotonic);
      let existing = this.families.get(promName);
      if (!existing) {
        const boundaries = options?.advice?.explicitBucketBoundaries ?? DEFAULT_BOUNDARIES;
        existing = new Family(promName, options?.description ?? name, kind, monotonic, [...boundaries].sort((a, b) => a - b));
        this.families.set(promName, existing);
      }
      return existing;
    };
    const observable = (target: Family): ObservableGauge & ObservableCounter & ObservableUpDownCounter => ({
      addCallback: (callback) => void target.callbacks.add(callback),
      removeCallback: (callback) => void target.callbacks.delete(callback),
    });
    this.meter = {
      createCounter: (name, options): Counter => {
        const target = family(name, options, 'counter', true);
        return { add: (value, attributes) => target.add(value, attributes) };
      },
      createUpDownCounter: (name, options): UpDownCounter => {
        const target = family(name, options, 'gauge', false);
        return { add: (value, attributes) => target.add(value, attributes) };
      },
      createGauge: (name, options): Gauge => {
        const target = family(name, options, 'gauge', false);
        return { record: (value, attributes) => target.set(value, attributes) };
      },
      createHistogram: (name, options): Histogram => {
        const target = family(name, options, 'histogram', false);
        return { record: (value, attributes) => target.observe(value, attributes) };
      },
      createObservableGauge: (name, options) => observable(family(name, options, 'gauge', false)),
      createObservableUpDownCounter: (name, options) => observable(family(name, options, 'gauge', false)),
      createObservableCounter: (name, options) => observable(family(name, options, 'counter', true)),
      // Batch callbacks are not used by the engine; the built-in endpoint does not serve them.
      addBatchObservableCallback: (_callback: BatchObservableCallback) => undefined,
      removeBatchObservableCallback: (_callback: BatchObservableCallback) => undefined,
    };
  }

  getMeter(): Meter {
    return this.meter;
  }

  /** Forget every series whose attribute `key` is `value` (a tenant that lost its own label). */
  dropSeries(key: string, value: string): void {
    for (const family of this.families.values()) {
      for (const [id, series] of family.series) if (series.attributes[key] === value) family.series.delete(id);
    }
  }

  /** The current values, observable instruments read now, in the Prometheus text format. */
  async render(): Promise<string> {
    for (const family of this.families.values()) {
      if (family.callbacks.size === 0) continue;
      family.series.clear();
      const result: ObservableResult = { observe: (value, attributes) => family.set(value, attributes) };
      for (const callback of family.callbacks) {
        try {
          await callback(result);
        } catch {
          // A failing observation leaves its series out of this scrape.
        }
      }
    }
    const lines: string[] = [];
    for (const family of this.families.values()) family.render(lines);
    return lines.length ? `${lines.join('\n')}\n` : '';
  }
}
