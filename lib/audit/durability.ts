/**
 * When an audit line reaches the disk (`audit-fsync`):
 *
 * - `always` (default): an allowed result is handed to the caller only after
 *   an `fdatasync` that covers its record. Concurrent requests share one
 *   sync (group commit): a request waits for the sync in flight, and, if its
 *   record came after that sync started, for the next one.
 * - `batch`: lines are synced in the background at most once a second; a
 *   power loss can lose up to a second of records, a crash of the agent
 *   none (every line is in the kernel before the caller is answered).
 * - `never`: the kernel writes lines back when it will.
 *
 * A failed sync is counted and logged like a failed write, and the callers
 * it covered get false (the broker then refuses their allowed results).
 * @module
 */

/** The `audit-fsync` policy. */
export type AuditFsync = "always" | "batch" | "never";

/** The accepted `audit-fsync` values. */
export const AUDIT_FSYNC_POLICIES: readonly AuditFsync[] = ["always", "batch", "never"];

/** How often `batch` syncs, ms. */
export const BATCH_INTERVAL_MS = 1000;

interface Attempt {
  /** Lines this sync covers. */
  readonly upto: number;
  readonly done: Promise<boolean>;
}

/** Group commit of written lines through one `sync` at a time. */
export class GroupSync {
  #written = 0;
  #synced = 0;
  #running: Attempt | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly policy: AuditFsync,
    private readonly sync: () => Promise<void>,
    private readonly failed: (e: unknown) => void,
  ) {
    if (policy === "batch") {
      const timer = setInterval(() => {
        if (this.#synced < this.#written && !this.#running) void this.#start();
      }, BATCH_INTERVAL_MS);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** One more line was written. */
  wrote(): void {
    this.#written++;
  }

  /** Resolves when every line written so far is synced per the policy; never rejects. */
  async flush(): Promise<boolean> {
    if (this.policy !== "always") return true;
    const target = this.#written;
    while (this.#synced < target) {
      const attempt = this.#running ?? this.#start();
      const ok = await attempt.done;
      if (!ok && attempt.upto >= target) return false;
    }
    return true;
  }

  #start(): Attempt {
    const upto = this.#written;
    const done = this.sync().then(
      () => {
        if (upto > this.#synced) this.#synced = upto;
        return true;
      },
      (e) => {
        this.failed(e);
        return false;
      },
    ).finally(() => {
      if (this.#running === attempt) this.#running = undefined;
    });
    const attempt: Attempt = { upto, done };
    this.#running = attempt;
    return attempt;
  }

  /** Syncs `file` now (before it is closed or replaced), unless the policy is `never`. */
  finalSync(file: Deno.FsFile | undefined): void {
    if (this.policy === "never" || file === undefined || this.#synced >= this.#written) return;
    try {
      file.syncDataSync();
      this.#synced = this.#written;
    } catch (e) {
      this.failed(e);
    }
  }

  /** Stops the background sync. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
