/**
 * A keyed async mutex: tasks under one key run one at a time, in call order;
 * tasks under different keys do not wait for each other. Used to serialize
 * read-check-write sequences against a backend (for example creating both
 * halves of a key) inside one process.
 * @module
 */

/** Serializes async tasks per string key. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Runs `fn` once every earlier task under `key` has settled; resolves or
   * rejects with `fn`'s result. A failing task does not block later ones.
   */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => done);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** How many keys have a task running or waiting (for tests). */
  get size(): number {
    return this.#tails.size;
  }
}
