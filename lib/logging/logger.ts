/**
 * The agent's logger from `[logging]`: every line that passes `level` goes
 * to each enabled sink: JSON lines on stderr (the contract's `stdout`),
 * native journald entries (when the journal socket exists; an explicit
 * `enable = true` without one stops the start), and rotating files. Sinks
 * never throw; what they lose is counted. Callers log only allow-listed
 * fields (lib/core/log.ts), so no sink sees a secret.
 * @module
 */

import type { LoggingConfig } from "../config/schema.ts";
import { fieldError } from "../core/errors.ts";
import { describeFsError } from "../core/fs.ts";
import { jsonLogger } from "../core/log.ts";
import type { Logger } from "../core/log.ts";
import { RotatingFile } from "./file.ts";
import { JournalSink } from "./journald.ts";
import type { DatagramSender } from "./journald.ts";

/** The agent's logger and what it holds open. */
export interface AgentLogging {
  readonly logger: Logger;
  /** Where lines go, for the start-up line. */
  readonly sinks: readonly string[];
  close(): void;
}

/** Options of {@linkcode openLogging}. */
export interface OpenLoggingOptions {
  readonly config: LoggingConfig;
  /** The config file's label for errors. */
  readonly label: string;
  readonly stderr: (line: string) => void;
  /** libc's datagram calls (journald); absent = no journald sink. */
  readonly datagrams?: DatagramSender;
  readonly now?: () => Date;
}

function socketExists(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}

/** Builds the logger; throws an `InputError` naming the field when a sink cannot open. */
export function openLogging(o: OpenLoggingOptions): AgentLogging {
  const cfg = o.config;
  const writers: ((line: string) => void)[] = [];
  const sinks: string[] = [];
  const closers: (() => void)[] = [];
  if (cfg.stderr) {
    writers.push(o.stderr);
    sinks.push("stdout");
  }
  if (cfg.file) {
    const file = new RotatingFile(cfg.file, o.now);
    try {
      file.open();
    } catch (e) {
      throw fieldError(
        "config_invalid",
        o.label,
        "logging.file.dir",
        `${cfg.file.dir}: cannot open a log file: ${describeFsError(e)}`,
      );
    }
    writers.push((l) => file.write(l));
    closers.push(() => file.close());
    sinks.push("file");
  }
  const lines = jsonLogger({
    minLevel: cfg.level,
    write: (l) => {
      for (const w of writers) w(l);
    },
    ...(o.now ? { now: o.now } : {}),
  });
  let journal: JournalSink | undefined;
  const j = cfg.journald;
  if (j?.enable && o.datagrams) {
    if (socketExists(j.socket)) {
      journal = new JournalSink(o.datagrams, j.socket);
      closers.push(() => journal?.close());
      sinks.push("journald");
    } else if (j.explicit) {
      throw fieldError(
        "config_invalid",
        o.label,
        "logging.journald.enable",
        `no journal socket at ${j.socket} (set logging.journald.socket, or enable = false)`,
      );
    }
  }
  const ORDER = { debug: 0, info: 1, warn: 2, error: 3 } as const;
  const min = ORDER[cfg.level];
  const logger: Logger = {
    log(level, message, fields = {}) {
      lines.log(level, message, fields);
      if (journal && ORDER[level] >= min) journal.send(level, message, fields);
    },
  };
  return {
    logger,
    sinks,
    close() {
      for (const c of closers) c();
    },
  };
}
