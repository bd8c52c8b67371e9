/**
 * A small Prometheus registry: counters and gauges with labels, plus gauges computed at scrape
 * time. Enough for `/metrics`; no client library needed.
 */
type Labels = Record<string, string>;
type Kind = 'counter' | 'gauge';

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** One series of a counter, its label text built once: for increments on the hot path. */
export interface Counter {
  inc(by?: number): void;
}

export class Metrics {
  readonly #meta = new Map<string, { kind: Kind; help: string }>();
  readonly #values = new Map<string, Map<string, number>>();
  readonly #collectors: (() => Promise<void> | void)[] = [];

  describe(name: string, kind: Kind, help: string): this {
    this.#meta.set(name, { kind, help });
    return this;
  }

  inc(name: string, labels?: Labels, by = 1): void {
    const series = this.#series(name);
    const k = labelKey(labels);
    series.set(k, (series.get(k) ?? 0) + by);
  }

  /** A handle on one series (build it once, e.g. per account, and increment it per request). */
  counter(name: string, labels?: Labels): Counter {
    const series = this.#series(name);
    const k = labelKey(labels);
    return { inc: (by = 1) => void series.set(k, (series.get(k) ?? 0) + by) };
  }

  /**
   * The series of a counter by the value of its one label, each handle built on first use and
   * kept: for hot paths that count by account or by reason.
   */
  counterBy(name: string, label: string): (value: string) => Counter {
    const handles = new Map<string, Counter>();
    return (value) => {
      let c = handles.get(value);
      if (!c) handles.set(value, (c = this.counter(name, { [label]: value })));
      return c;
    };
  }

  set(name: string, value: number, labels?: Labels): void {
    this.#series(name).set(labelKey(labels), value);
  }

  get(name: string, labels?: Labels): number {
    return this.#values.get(name)?.get(labelKey(labels)) ?? 0;
  }

  /** Run before each render, e.g. to read stream lengths. */
  onCollect(fn: () => Promise<void> | void): void {
    this.#collectors.push(fn);
  }

  #series(name: string): Map<string, number> {
    let s = this.#values.get(name);
    if (!s) this.#values.set(name, (s = new Map()));
    return s;
  }

  async render(): Promise<string> {
    await Promise.all(this.#collectors.map(async (c) => c()));
    const out: string[] = [];
    for (const [name, series] of this.#values) {
      const meta = this.#meta.get(name);
      if (meta) out.push(`# HELP ${name} ${meta.help}`, `# TYPE ${name} ${meta.kind}`);
      for (const [k, v] of series) out.push(`${name}${k} ${v}`);
    }
    return `${out.join('\n')}\n`;
  }
}
