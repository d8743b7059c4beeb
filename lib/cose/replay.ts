/**
 * The sealed-invocation replay cache: remembers `(sender_key_id, cti)` until
 * the message could no longer pass the time checks (`exp + skew`), bounded
 * by `replay-cache-capacity`.
 *
 * Fail closed when full: expired entries are dropped first; if every entry
 * is still live, the new message is refused (`full`) rather than evicting a
 * live entry, since an evicted entry could be replayed.
 * @module
 */

/** The outcome of {@linkcode ReplayCache.admit}. */
export type Admission = "fresh" | "replay" | "full";

/** A bounded set of seen message ids with expiry. */
export class ReplayCache {
  /** key → expiry (Unix seconds); Map keeps insertion order. */
  readonly #seen = new Map<string, number>();

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError("capacity must be ≥ 1");
    }
  }

  /** Records `(sender, cti)` valid until `expiresAt` unless it was seen before. */
  admit(sender: string, cti: Uint8Array, expiresAt: number, nowUnix: number): Admission {
    const key = `${sender.length}:${sender}:${
      Array.from(cti, (b) => b.toString(16).padStart(2, "0")).join("")
    }`;
    const known = this.#seen.get(key);
    if (known !== undefined && known >= nowUnix) return "replay";
    if (known !== undefined) this.#seen.delete(key);
    if (this.#seen.size >= this.capacity) this.#prune(nowUnix);
    if (this.#seen.size >= this.capacity) return "full";
    this.#seen.set(key, expiresAt);
    return "fresh";
  }

  /** Entries held. */
  get size(): number {
    return this.#seen.size;
  }

  #prune(nowUnix: number): void {
    for (const [k, exp] of this.#seen) if (exp < nowUnix) this.#seen.delete(k);
  }
}
