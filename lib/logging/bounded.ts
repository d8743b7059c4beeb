/**
 * Log lines at a bounded rate, per reason: a token bucket of `burst` lines
 * refilled at `burst` per `windowMs`. A line over the rate is not written but
 * counted, and {@linkcode BoundedLog.summarize} (called on a timer) writes
 * one "suppressed K" line per reason that lost lines, at most once per
 * window. An attack then shows in the log at once (the first lines of each
 * reason) without flooding it.
 * @module
 */

import type { LogFields, Logger, LogLevel } from "../core/log.ts";

/** Options of {@linkcode BoundedLog}. */
export interface BoundedLogOptions {
  readonly logger: Logger;
  readonly level: LogLevel;
  readonly message: string;
  /** Lines per reason per window (default 5). */
  readonly burst?: number;
  /** The window, ms (default 60 s). */
  readonly windowMs?: number;
  /** Clock, ms (default `Date.now`). */
  readonly now?: () => number;
  /** Called for each line suppressed (metrics). */
  readonly onSuppressed?: () => void;
  /** Distinct reasons tracked at once (default 256); more share one `other` bucket. */
  readonly maxReasons?: number;
}

interface Bucket {
  tokens: number;
  at: number;
  suppressed: number;
}

/** A per-reason rate-limited log. */
export class BoundedLog {
  readonly #o: BoundedLogOptions;
  readonly #burst: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #lastSummary = -Infinity;

  constructor(o: BoundedLogOptions) {
    this.#o = o;
    this.#burst = o.burst ?? 5;
    this.#windowMs = o.windowMs ?? 60_000;
    this.#now = o.now ?? Date.now;
  }

  /** Logs one event of `reason` if its bucket has a token, else counts it as suppressed. */
  report(reason: string, fields: LogFields = {}): void {
    const now = this.#now();
    const b = this.#bucket(reason, now);
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) * this.#burst) / this.#windowMs);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.#o.logger.log(this.#o.level, this.#o.message, { reason, ...fields });
      return;
    }
    b.suppressed++;
    this.#o.onSuppressed?.();
  }

  /** Writes the "suppressed" lines, at most once per window. */
  summarize(): void {
    const now = this.#now();
    if (now - this.#lastSummary < this.#windowMs) return;
    let any = false;
    for (const [reason, b] of this.#buckets) {
      if (b.suppressed === 0) continue;
      any = true;
      this.#o.logger.log(this.#o.level, `${this.#o.message} (lines suppressed)`, {
        reason,
        suppressed: b.suppressed,
      });
      b.suppressed = 0;
    }
    if (any) this.#lastSummary = now;
    // Buckets that are full again and owe nothing are forgotten.
    for (const [reason, b] of this.#buckets) {
      const full = b.tokens + ((now - b.at) * this.#burst) / this.#windowMs >= this.#burst;
      if (full && b.suppressed === 0) this.#buckets.delete(reason);
    }
  }

  #bucket(reason: string, now: number): Bucket {
    let key = reason;
    if (!this.#buckets.has(key) && this.#buckets.size >= (this.#o.maxReasons ?? 256)) key = "other";
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: this.#burst, at: now, suppressed: 0 };
      this.#buckets.set(key, b);
    }
    return b;
  }
}
