/**
 * The doctor's report (contract §8): one row per check, `ok`, `warn` or
 * `fatal`, each with a detail and a remediation; JSON
 * `{schema_version: 2, checks, summary: {total, ok, warn, fatal, blocking}}`
 * or human rows prefixed `OK   `/`WARN `/`FATAL`.
 * @module
 */

/** A check's verdict. */
export type CheckStatus = "ok" | "warn" | "fatal";

/** One check's row. */
export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** What to do about it; empty when there is nothing to do. */
  readonly remediation: string;
}

/** The counts, `blocking` being the rows that make the run fail. */
export interface Summary {
  readonly total: number;
  readonly ok: number;
  readonly warn: number;
  readonly fatal: number;
  readonly blocking: number;
}

/** Counts `checks`; with `strict`, warnings block too. */
export function summarize(checks: readonly CheckResult[], strict: boolean): Summary {
  const n = (s: CheckStatus) => checks.filter((c) => c.status === s).length;
  const warn = n("warn");
  const fatal = n("fatal");
  return { total: checks.length, ok: n("ok"), warn, fatal, blocking: fatal + (strict ? warn : 0) };
}

/** The JSON document. */
export function reportJson(checks: readonly CheckResult[], strict: boolean): string {
  return JSON.stringify({ schema_version: 2, checks, summary: summarize(checks, strict) });
}

const PREFIX: Record<CheckStatus, string> = { ok: "OK   ", warn: "WARN ", fatal: "FATAL" };

/** The human rows, then a summary line. */
export function reportText(checks: readonly CheckResult[], strict: boolean): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${PREFIX[c.status]} ${c.name}: ${c.detail}`);
    if (c.status !== "ok" && c.remediation !== "") lines.push(`      fix: ${c.remediation}`);
  }
  const s = summarize(checks, strict);
  lines.push(
    `${s.total} checks: ${s.ok} ok, ${s.warn} warn, ${s.fatal} fatal` +
      (s.blocking > 0 ? ` (${s.blocking} blocking)` : ""),
  );
  return lines.join("\n") + "\n";
}

/** Shorthands for building rows. */
export const row = {
  ok: (name: string, detail: string): CheckResult => ({
    name,
    status: "ok",
    detail,
    remediation: "",
  }),
  warn: (name: string, detail: string, remediation: string): CheckResult => ({
    name,
    status: "warn",
    detail,
    remediation,
  }),
  fatal: (name: string, detail: string, remediation: string): CheckResult => ({
    name,
    status: "fatal",
    detail,
    remediation,
  }),
};
