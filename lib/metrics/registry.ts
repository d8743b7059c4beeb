/**
 * A small Prometheus registry: counters, gauges and histograms with fixed
 * label names, rendered in the text exposition format (version 0.0.4).
 * Label values come only from bounded sets the instrumented code chooses
 * (service and method names the server knows, outcome classes, abuse
 * reasons); nothing a client sends becomes a label value unchecked.
 * @module
 */

type Labels = Readonly<Record<string, string>>;

/** One metric family. */
interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  render(out: string[]): void;
}

/** `\`, newline and `"` escaped, as the text format wants in label values. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`);
  if (extra) parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** A collected value; NaN when reading it failed (a scrape never throws). */
function safeRead(fn: () => number): number {
  try {
    return fn();
  } catch {
    return NaN;
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

abstract class Labelled<S> implements Family {
  abstract readonly type: "counter" | "gauge" | "histogram";
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    protected readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new TypeError(`Bad metric name ${name}`);
    for (const l of labelNames) {
      if (!LABEL.test(l) || l === "le") throw new TypeError(`Bad label name ${l}`);
    }
  }

  protected abstract fresh(): S;

  protected get(labels: Labels): S {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (v === undefined) throw new TypeError(`Metric ${this.name} needs label ${n}`);
      return v;
    });
    const key = values.join("\u0000");
    let s = this.series.get(key);
    if (!s) {
      s = { values, state: this.fresh() };
      this.series.set(key, s);
    }
    return s.state;
  }

  abstract render(out: string[]): void;
}

/** A monotonically increasing count; a label-less one may read a callback at scrape time. */
export class Counter extends Labelled<{ v: number }> {
  readonly type = "counter";
  #read: (() => number) | undefined;

  /** Reads the (label-less) value from `fn` at each scrape (a count kept elsewhere). */
  collect(fn: () => number): void {
    if (this.labelNames.length > 0) throw new TypeError("Only a label-less counter collects");
    this.#read = fn;
  }

  protected fresh(): { v: number } {
    return { v: 0 };
  }

  /** Adds `by` (default 1, never negative) to the series of `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new RangeError("A counter only goes up");
    this.get(labels).v += by;
  }

  /** The current value of one series (tests). */
  value(labels: Labels = {}): number {
    if (this.#read) return this.#read();
    return this.get(labels).v;
  }

  render(out: string[]): void {
    if (this.#read) {
      out.push(`${this.name} ${formatNumber(safeRead(this.#read))}`);
      return;
    }
    for (const { values, state } of this.series.values()) {
      out.push(`${this.name}${labelText(this.labelNames, values)} ${formatNumber(state.v)}`);
    }
  }
}

/** A value that goes up and down; label-less gauges may read a callback at scrape time. */
export class Gauge extends Labelled<{ v: number }> {
  readonly type = "gauge";
  #read: (() => number) | undefined;

  protected fresh(): { v: number } {
    return { v: 0 };
  }

  /** Sets one series. */
  set(labels: Labels, v: number): void {
    this.get(labels).v = v;
  }

  /** Adds `by` (may be negative). */
  add(labels: Labels, by: number): void {
    this.get(labels).v += by;
  }

  /** Reads the (label-less) value from `fn` at each scrape. */
  collect(fn: () => number): void {
    if (this.labelNames.length > 0) throw new TypeError("Only a label-less gauge collects");
    this.#read = fn;
  }

  /** The current value of one series (tests). */
  value(labels: Labels = {}): number {
    if (this.#read && this.labelNames.length === 0) return this.#read();
    return this.get(labels).v;
  }

  render(out: string[]): void {
    if (this.#read) {
      out.push(`${this.name} ${formatNumber(safeRead(this.#read))}`);
      return;
    }
    for (const { values, state } of this.series.values()) {
      out.push(`${this.name}${labelText(this.labelNames, values)} ${formatNumber(state.v)}`);
    }
  }
}

/** Observations counted into cumulative buckets. */
export class Histogram extends Labelled<{ counts: number[]; sum: number; count: number }> {
  readonly type = "histogram";

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]! > buckets[i - 1]!)) throw new TypeError("Buckets must increase");
    }
  }

  protected fresh(): { counts: number[]; sum: number; count: number } {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  /** Records one observation. */
  observe(labels: Labels, v: number): void {
    const s = this.get(labels);
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  /** Observations recorded in one series (tests). */
  count(labels: Labels = {}): number {
    return this.get(labels).count;
  }

  render(out: string[]): void {
    for (const { values, state } of this.series.values()) {
      this.buckets.forEach((b, i) => {
        const le = `le="${formatNumber(b)}"`;
        out.push(
          `${this.name}_bucket${labelText(this.labelNames, values, le)} ${state.counts[i]}`,
        );
      });
      out.push(
        `${this.name}_bucket${labelText(this.labelNames, values, 'le="+Inf"')} ${state.count}`,
      );
      out.push(`${this.name}_sum${labelText(this.labelNames, values)} ${formatNumber(state.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, values)} ${state.count}`);
    }
  }
}

/** A set of metric families rendered together. */
export class Registry {
  readonly #families: Family[] = [];

  #add<F extends Family>(f: F): F {
    if (this.#families.some((x) => x.name === f.name)) {
      throw new TypeError(`Metric ${f.name} registered twice`);
    }
    this.#families.push(f);
    return f;
  }

  counter(name: string, help: string, labels: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labels));
  }

  gauge(name: string, help: string, labels: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labels));
  }

  histogram(
    name: string,
    help: string,
    labels: readonly string[],
    buckets: readonly number[],
  ): Histogram {
    return this.#add(new Histogram(name, help, labels, buckets));
  }

  /** The text exposition of every family. */
  render(): string {
    const out: string[] = [];
    for (const f of this.#families) {
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      f.render(out);
    }
    return out.join("\n") + "\n";
  }
}
