/**
 * `[logging.file]`: JSON log lines appended to `<dir>/<prefix><period>.log`,
 * where the period is the UTC hour (`YYYY-MM-DDTHH`), day (`YYYY-MM-DD`) or
 * ISO week's Monday (`YYYY-MM-DD`) of `rotation` (`none`: `current`). A new
 * period opens a new file; so does a file that would pass `max-size`
 * (`<prefix><period>.<n>.log`). After each rotation only the `keep` newest
 * rotated files stay. Files are created with the configured mode (0600 or
 * 0640, never wider); a write that fails is counted, never thrown.
 * @module
 */

import type { LogFileConfig } from "../config/schema.ts";

const encoder = new TextEncoder();

/** The period stamp of `rotation` at `d` (UTC). */
export function periodOf(rotation: LogFileConfig["rotation"], d: Date): string {
  const iso = d.toISOString();
  switch (rotation) {
    case "none":
      return "current";
    case "hourly":
      return iso.slice(0, 13);
    case "daily":
      return iso.slice(0, 10);
    case "weekly": {
      const monday = new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * 86_400_000);
      return monday.toISOString().slice(0, 10);
    }
  }
}

/** A rotating log file. */
export class RotatingFile {
  #file: Deno.FsFile | undefined;
  #period = "";
  #index = 0;
  #size = 0;
  #failures = 0;

  constructor(
    private readonly cfg: LogFileConfig,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Lines that could not be written. */
  get failures(): number {
    return this.#failures;
  }

  /** The path being written (after the first line). */
  get path(): string | undefined {
    return this.#file ? this.#name(this.#period, this.#index) : undefined;
  }

  /** Opens the first file now, so a bad directory stops the start; throws. */
  open(): void {
    this.#rotate(periodOf(this.cfg.rotation, this.now()), 0);
  }

  /** Appends one line (with its newline). Never throws. */
  write(line: string): void {
    try {
      const bytes = encoder.encode(line);
      const period = periodOf(this.cfg.rotation, this.now());
      if (!this.#file || period !== this.#period) this.#rotate(period, 0);
      else if (
        this.cfg.maxSize !== undefined && this.#size > 0 &&
        this.#size + bytes.length > this.cfg.maxSize
      ) {
        this.#rotate(period, this.#index + 1);
      }
      let off = 0;
      while (off < bytes.length) off += this.#file!.writeSync(bytes.subarray(off));
      this.#size += bytes.length;
    } catch {
      this.#failures++;
    }
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  #name(period: string, index: number): string {
    return `${this.cfg.dir}/${this.cfg.prefix}${period}${index === 0 ? "" : `.${index}`}.log`;
  }

  #rotate(period: string, index: number): void {
    this.#file?.close();
    this.#file = undefined;
    const path = this.#name(period, index);
    const f = Deno.openSync(path, { append: true, create: true, mode: this.cfg.mode });
    const st = f.statSync();
    if (((st.mode ?? 0) & 0o7777 & ~this.cfg.mode) !== 0) {
      f.close();
      throw new Deno.errors.PermissionDenied(`${path} is wider than ${this.cfg.mode.toString(8)}`);
    }
    this.#file = f;
    this.#period = period;
    this.#index = index;
    this.#size = st.size;
    this.#prune(path);
  }

  /** Removes all but the `keep` newest rotated files (never the current one). */
  #prune(current: string): void {
    const ours: { path: string; mtime: number }[] = [];
    for (const e of Deno.readDirSync(this.cfg.dir)) {
      if (!e.isFile || !e.name.startsWith(this.cfg.prefix) || !e.name.endsWith(".log")) continue;
      const path = `${this.cfg.dir}/${e.name}`;
      if (path === current) continue;
      try {
        ours.push({ path, mtime: Deno.statSync(path).mtime?.getTime() ?? 0 });
      } catch { /* gone */ }
    }
    ours.sort((a, b) => b.mtime - a.mtime || (a.path < b.path ? 1 : -1));
    for (const old of ours.slice(this.cfg.keep)) {
      try {
        Deno.removeSync(old.path);
      } catch { /* counted nowhere: the next rotation tries again */ }
    }
  }
}
