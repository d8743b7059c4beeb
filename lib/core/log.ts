/**
 * A small structured logger. The library never prints: it receives a
 * {@linkcode Logger} (null by default) and logs only the fields it names.
 * Values are rendered with `String()`, so a {@linkcode SecretBytes} shows as
 * `[redacted N bytes]`.
 * @module
 */

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Allow-listed structured fields of a log line. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** Where the library writes operator-facing messages. */
export interface Logger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

/** A logger that drops everything. */
export const nullLogger: Logger = { log() {} };

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options for {@linkcode jsonLogger}. */
export interface JsonLoggerOptions {
  minLevel?: LogLevel;
  write: (line: string) => void;
  now?: () => Date;
}

/** One JSON object per line: `{ts, level, msg, ...fields}`. */
export function jsonLogger(options: JsonLoggerOptions): Logger {
  const min = ORDER[options.minLevel ?? "info"];
  const now = options.now ?? (() => new Date());
  return {
    log(level, message, fields = {}) {
      if (ORDER[level] < min) return;
      const line: Record<string, string | number | boolean> = {
        ts: now().toISOString(),
        level,
        msg: message,
      };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) line[k] = v;
      options.write(JSON.stringify(line) + "\n");
    },
  };
}
