/**
 * `basil bundle create --from FILE`: the slots and backends of a new bundle
 * as TOML instead of `--slot` / `--backend` flags (contract §5), so a long
 * plan can be reviewed and kept under version control. Each `[[slot]]` has
 * `type` plus the `--slot` fields; each `[[backend]]` the `--backend`
 * fields:
 *
 *   [[slot]]
 *   type = "passphrase"
 *   file = "/run/secrets/basil-pass"
 *
 *   [[slot]]
 *   type = "tpm"
 *   pcrs = [0, 2, 4, 7]
 *
 *   [[backend]]
 *   id = "db"
 *   type = "db-keystore"
 *   path = "/var/lib/basil/keystore.db"
 *   dek-file = "/run/secrets/keystore.dek"
 *
 * Invariants: the file holds no secret, only paths to 0600 files (read when
 * the bundle is made, as with flags); unknown top-level keys and unknown
 * fields are rejected; every error names the file and the table
 * (`plan.toml: slot[2]: …`), never a value. Nothing is read from a
 * credential file here.
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { InputError } from "../core/errors.ts";
import { describeFsError } from "../core/fs.ts";
import { backendFieldsFromTable } from "./backend_spec.ts";
import { type ParsedSlotSpec, slotSpecFromTable } from "./slot_spec.ts";
import type { SpecFields } from "./spec_fields.ts";

const TOKEN = "bundle_plan_invalid";

/** What `--from` describes: parsed slots, and backend fields not yet loaded. */
export interface BundlePlan {
  readonly slots: readonly ParsedSlotSpec[];
  readonly backends: readonly SpecFields[];
}

function tables(
  doc: Record<string, unknown>,
  key: string,
  file: string,
): Record<string, unknown>[] {
  const v = doc[key];
  if (v === undefined) return [];
  const isTable = (t: unknown): t is Record<string, unknown> =>
    typeof t === "object" && t !== null && !Array.isArray(t) && !(t instanceof Date);
  if (!Array.isArray(v) || !v.every(isTable)) {
    throw new InputError(TOKEN, `${file}: ${key}: must be an array of tables ([[${key}]])`);
  }
  return v;
}

/** Parses the TOML text of a bundle plan; `file` names it in errors. */
export function parseBundlePlan(text: string, file: string): BundlePlan {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    // smol-toml's message quotes the offending line, which may be anything:
    // keep only its position.
    const pos = e instanceof Error && "line" in e && "column" in e
      ? ` at line ${String(e.line)}, column ${String(e.column)}`
      : "";
    throw new InputError(TOKEN, `${file}: not valid TOML${pos}`);
  }
  const unknown = Object.keys(doc).filter((k) => k !== "slot" && k !== "backend");
  if (unknown.length > 0) {
    throw new InputError(
      TOKEN,
      `${file}: unknown key ${unknown.map((k) => `"${k}"`).join(", ")} ` +
        "(expected [[slot]] and [[backend]] tables)",
    );
  }
  const slots = tables(doc, "slot", file).map((t, i) =>
    slotSpecFromTable(t, `${file}: slot[${i}]`)
  );
  if (slots.length === 0) throw new InputError(TOKEN, `${file}: at least one [[slot]] is required`);
  const backends = tables(doc, "backend", file).map((t, i) =>
    backendFieldsFromTable(t, `${file}: backend[${i}]`)
  );
  return { slots, backends };
}

/** Reads and parses a bundle plan file. */
export function readBundlePlan(path: string): BundlePlan {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new InputError(TOKEN, `${path}: cannot read: ${describeFsError(e)}`);
  }
  return parseBundlePlan(text, path);
}
