/**
 * Timing harness: a TypeScript port of the workplace's
 * guides/perf-examples/h.mjs, so broker and floor figures come from the
 * same loop (warm-up, time-bounded measuring loop, one latency sample per
 * call, p50/p99/mean from the sorted samples, ops/s = calls / elapsed).
 * @module
 */

/** One measured series. Latencies in µs. */
export interface Summary {
  name: string;
  n: number;
  ops_s: number;
  p50_us: number;
  p99_us: number;
  mean_us: number;
  [extra: string]: unknown;
}

/** Summarizes latencies in ms over `elapsedMs` (as h.mjs's `summarize`). */
export function summarize(
  name: string,
  latMs: readonly number[],
  elapsedMs: number,
  extra: Record<string, unknown> = {},
): Summary {
  const a = Float64Array.from(latMs).sort();
  const q = (p: number) => a[Math.min(a.length - 1, Math.floor(p * a.length))] ?? NaN;
  let sum = 0;
  for (const x of a) sum += x;
  return {
    name,
    n: a.length,
    ops_s: Math.round(a.length / (elapsedMs / 1000)),
    p50_us: +(q(0.5) * 1000).toFixed(1),
    p99_us: +(q(0.99) * 1000).toFixed(1),
    mean_us: +((sum / a.length) * 1000).toFixed(1),
    ...extra,
  };
}

/** Timing options. */
export interface BenchOptions {
  warmMs?: number;
  runMs?: number;
  extra?: Record<string, unknown>;
}

/** Time-bounded loop; `fn` may be sync or async (awaited only if it returns a promise). */
export async function bench(
  name: string,
  fn: () => unknown,
  { warmMs = 500, runMs = 2000, extra }: BenchOptions = {},
): Promise<Summary> {
  let end = performance.now() + warmMs;
  while (performance.now() < end) {
    const p = fn();
    if (p instanceof Promise) await p;
  }
  const lat: number[] = [];
  const t0 = performance.now();
  end = t0 + runMs;
  let t = t0;
  while (t < end) {
    const s = t;
    const p = fn();
    if (p instanceof Promise) await p;
    t = performance.now();
    lat.push(t - s);
  }
  return summarize(name, lat, t - t0, extra);
}

/** `k` concurrent workers each looping `await fn()` until the deadline (as h.mjs's `benchConc`). */
export async function benchConc(
  name: string,
  fn: () => Promise<unknown>,
  k: number,
  { warmMs = 1000, runMs = 3000, extra }: BenchOptions = {},
): Promise<Summary> {
  let stopAt = performance.now() + warmMs;
  const warm = async () => {
    while (performance.now() < stopAt) await fn();
  };
  await Promise.all(Array.from({ length: k }, warm));
  const lat: number[] = [];
  const t0 = performance.now();
  stopAt = t0 + runMs;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const s = performance.now();
      await fn();
      lat.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: k }, worker));
  return summarize(name, lat, performance.now() - t0, { conc: k, ...extra });
}

/**
 * `n` calls, each after a `gapMs` sleep, as a server at c=1 sees them (caches
 * go cold while it waits); only the calls are timed, after 100 unrecorded ones.
 */
export async function benchAfterIdle(
  name: string,
  fn: () => Promise<unknown>,
  n: number,
  gapMs = 1,
): Promise<Summary> {
  const lat: number[] = [];
  for (let i = 0; i < n + 100; i++) {
    await new Promise((r) => setTimeout(r, gapMs));
    const t = performance.now();
    await fn();
    if (i >= 100) lat.push(performance.now() - t);
  }
  return summarize(name, lat, lat.reduce((a, x) => a + x, 0), { gap_ms: gapMs });
}

/** Median of numbers (NaN for none). */
export function median(xs: readonly number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}
