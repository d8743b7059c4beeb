/**
 * Waiting for events instead of sleeping. Each wait is woken by the event
 * itself and has only a generous deadline that fails loudly, naming what
 * did not happen.
 */

/**
 * Resolves once `path` exists, woken by inotify events on its directory
 * (the directory must exist). Throws after `timeoutMs`.
 */
export async function waitForPath(path: string, timeoutMs = 60_000): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const exists = () => {
    try {
      Deno.lstatSync(path);
      return true;
    } catch {
      return false;
    }
  };
  // Watch first, then look: a file created in between is not missed.
  const watcher = Deno.watchFs(dir, { recursive: false });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    watcher.close();
  }, timeoutMs);
  try {
    if (exists()) return;
    for await (const e of watcher) {
      if (e.paths.includes(path) && exists()) return;
    }
  } finally {
    clearTimeout(timer);
    if (!timedOut) watcher.close();
  }
  throw new Error(`${path} did not appear within ${timeoutMs} ms`);
}

/**
 * A condition over state that event handlers change: `until` resolves when
 * it holds, re-checked each time a handler calls `changed()`.
 */
export class Signal {
  readonly #waiters = new Set<() => void>();

  /** Wakes every pending {@linkcode Signal.until}. */
  changed(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves when `cond()` holds; throws, naming `what`, after `timeoutMs`. */
  until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (cond()) done();
      };
      const timer = setTimeout(
        () => done(new Error(`no ${what} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.add(check);
      check();
    });
  }
}
