/**
 * Serving generations. A request pins the generation current at its entry
 * and uses that one snapshot throughout, so a later swap never mixes two
 * policies inside one decision.
 * @module
 */

import type { Catalog } from "../catalog/schema.ts";
import type { Policy } from "../policy/schema.ts";

/** One immutable catalog + policy snapshot. */
export interface Generation {
  readonly id: number;
  readonly catalog: Catalog;
  readonly policy: Policy;
}

/** Holds the serving generation. */
export class GenerationHolder {
  #current: Generation;
  readonly #listeners = new Set<(next: Generation) => void>();

  constructor(initial: Generation) {
    this.#current = initial;
  }

  /** The generation to pin for a new request. */
  current(): Generation {
    return this.#current;
  }

  /** Installs the next generation; its id must be greater. Listeners hear it after. */
  swap(next: Generation): void {
    if (next.id <= this.#current.id) throw new RangeError("Generation ids must increase");
    this.#current = next;
    for (const fn of [...this.#listeners]) {
      try {
        fn(next);
      } catch { /* a listener's fault is its own */ }
    }
  }

  /** Calls `fn` after every swap until the returned function is called. */
  onSwap(fn: (next: Generation) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}
