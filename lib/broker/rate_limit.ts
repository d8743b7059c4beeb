/**
 * Token buckets for the policy's per-subject rate limits (see
 * lib/policy/rate_limits.ts). Every request of a resolved subject takes one
 * token from its overall bucket and one from its op class's bucket, whatever
 * its decision, so a subject flooding denied requests is throttled too. When
 * a bucket is empty the request takes nothing; one that would be allowed is
 * refused with RATE_LIMITED (RESOURCE_EXHAUSTED), a denied one stays denied,
 * so a limit reveals nothing about keys.
 *
 * The limits come from the request's pinned generation; buckets outlive
 * reloads: a bucket whose spec a reload changed keeps its tokens (capped at
 * the new burst), so a reload cannot be used to refill anyone's bucket.
 * Buckets exist only for subjects and classes the policy limits.
 * @module
 */

import { limitsFor, rateClassOf } from "../policy/rate_limits.ts";
import type { BucketSpec, RateLimits } from "../policy/rate_limits.ts";

interface Bucket {
  spec: BucketSpec;
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

/** The agent's buckets (one limiter per agent). */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  /**
   * Takes one token for a request of `subject` doing `op` at `nowMs`, under
   * the pinned generation's `limits`. True when the request may proceed
   * (not limited, or every applicable bucket had a token).
   */
  take(limits: RateLimits | undefined, subject: string, op: string, nowMs: number): boolean {
    const l = limitsFor(limits, subject);
    if (!l) return true;
    const cls = rateClassOf(op);
    const specs: [string, BucketSpec][] = [];
    if (l.all) specs.push([`${subject}\u0000*`, l.all]);
    const c = l.classes.get(cls);
    if (c) specs.push([`${subject}\u0000${cls}`, c]);
    const buckets = specs.map(([id, spec]) => this.#bucket(id, spec, nowMs));
    if (buckets.some((b) => b.tokens < 1)) return false;
    for (const b of buckets) b.tokens -= 1;
    return true;
  }

  /** Number of live buckets (for tests: bounded by subjects × classes). */
  get size(): number {
    return this.#buckets.size;
  }

  #bucket(id: string, spec: BucketSpec, nowMs: number): Bucket {
    let b = this.#buckets.get(id);
    if (!b) {
      b = { spec, tokens: spec.burst, at: nowMs };
      this.#buckets.set(id, b);
      return b;
    }
    if (b.spec.perSecond !== spec.perSecond || b.spec.burst !== spec.burst) {
      b.spec = spec;
      b.tokens = Math.min(b.tokens, spec.burst);
    }
    const elapsed = Math.max(0, nowMs - b.at);
    b.tokens = Math.min(b.spec.burst, b.tokens + (elapsed * b.spec.perSecond) / 1000);
    b.at = Math.max(b.at, nowMs);
    return b;
  }
}
