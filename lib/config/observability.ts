/**
 * `[logging]` and `[metrics]` (contract §1, with extensions): validated
 * here, with errors that name the field. OTLP export is not in this build.
 * @module
 */

import { fieldError } from "../core/errors.ts";
import type { LoggingConfig, MetricsConfig } from "./schema.ts";

const TOKEN = "config_invalid";

/** The journal's native socket when `[logging.journald] socket` is not set. */
export const DEFAULT_JOURNAL_SOCKET = "/run/systemd/journal/socket";
/** Default `[metrics] listen`. */
export const DEFAULT_METRICS_LISTEN = "127.0.0.1:9464";

/** `[logging]` as parsed from TOML (before validation). */
export interface LoggingDoc {
  readonly stdout?: { readonly enable?: boolean };
  readonly journald?: { readonly enable?: boolean; readonly socket?: string };
  readonly file?: {
    readonly enable?: boolean;
    readonly dir?: string;
    readonly path?: string;
    readonly prefix?: string;
    readonly rotation?: "none" | "hourly" | "daily" | "weekly";
    readonly "max-size"?: number;
    readonly keep?: number;
    readonly mode?: "0600" | "0640";
  };
  readonly opentelemetry?: { readonly enable?: boolean };
  readonly level?: "debug" | "info" | "warn" | "error";
}

/** `[metrics]` as parsed from TOML. */
export interface MetricsDoc {
  readonly enable?: boolean;
  readonly listen?: string;
  readonly "allow-non-loopback"?: boolean;
  readonly "subject-labels"?: boolean;
}

/** Validates `[logging]`; `abs` makes a path absolute against the config file. */
export function parseLogging(
  doc: LoggingDoc,
  label: string,
  abs: (p: string) => string,
): LoggingConfig {
  if (doc.opentelemetry?.enable) {
    throw fieldError(
      TOKEN,
      label,
      "logging.opentelemetry.enable",
      "OTLP export is not in this build",
    );
  }
  const f = doc.file ?? {};
  const fileOn = f.enable ?? false;
  if (f.dir !== undefined && f.path !== undefined) {
    throw fieldError(TOKEN, label, "logging.file.path", "is an alias of dir: set one of them");
  }
  const dir = f.dir ?? f.path;
  if (fileOn && dir === undefined) {
    throw fieldError(TOKEN, label, "logging.file.dir", "required when logging.file.enable = true");
  }
  const prefix = f.prefix ?? "basil-agent-";
  if (!/^[A-Za-z0-9._-]*$/.test(prefix)) {
    throw fieldError(
      TOKEN,
      label,
      "logging.file.prefix",
      "may hold only letters, digits, '.', '_' and '-'",
    );
  }
  const socket = doc.journald?.socket;
  if (socket !== undefined && !socket.startsWith("/")) {
    throw fieldError(TOKEN, label, "logging.journald.socket", "must be an absolute path");
  }
  return {
    stderr: doc.stdout?.enable ?? !fileOn,
    level: doc.level ?? "info",
    journald: {
      enable: doc.journald?.enable ?? true,
      explicit: doc.journald?.enable === true,
      socket: socket ?? DEFAULT_JOURNAL_SOCKET,
    },
    file: fileOn
      ? {
        dir: abs(dir!),
        prefix,
        rotation: f.rotation ?? "daily",
        maxSize: f["max-size"],
        keep: f.keep ?? 7,
        mode: f.mode === "0640" ? 0o640 : 0o600,
      }
      : undefined,
  };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Validates `[metrics]`; `parseListen` parses `ip:port` naming the field. */
export function parseMetrics(
  doc: MetricsDoc,
  label: string,
  parseListen: (v: string, field: string) => { host: string; port: number },
): MetricsConfig {
  const listen = parseListen(doc.listen ?? DEFAULT_METRICS_LISTEN, "metrics.listen");
  const enable = doc.enable ?? false;
  if (enable && !isLoopback(listen.host) && doc["allow-non-loopback"] !== true) {
    throw fieldError(
      TOKEN,
      label,
      "metrics.listen",
      `${listen.host} is not a loopback address; set metrics.allow-non-loopback = true to expose it`,
    );
  }
  return { enable, listen, subjectLabels: doc["subject-labels"] ?? false };
}
