/**
 * The key names of a sops-nix secrets file (YAML or JSON with a top-level
 * `sops` metadata block), for `basil init --from-sops`. Only the structure
 * is read: values (`ENC[…]`) are never decoded, kept or copied. Nested maps
 * give one name per leaf, its segments joined by `/` as sops-nix does.
 *
 * The YAML reader handles what sops writes (block mappings of scalars,
 * sequences and nested mappings, comments, a leading `---`); flow mappings
 * and anchors at key positions are rejected with the line number.
 * @module
 */

import { CliError } from "../io.ts";

/** A secret's name as sops-nix addresses it (`a/b/c`). */
export type SopsKey = readonly string[];

function fail(file: string, why: string): never {
  throw new CliError(`--from-sops ${file}: ${why}`);
}

function leaves(v: unknown, path: string[], out: string[][]): void {
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    const entries = Object.keys(v as Record<string, unknown>);
    if (entries.length === 0) return;
    for (const k of entries) leaves((v as Record<string, unknown>)[k], [...path, k], out);
    return;
  }
  out.push(path);
}

function fromJson(text: string, file: string): string[][] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    fail(file, "not valid JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    fail(file, "the top level is not an object");
  }
  const d = doc as Record<string, unknown>;
  if (typeof d.sops !== "object" || d.sops === null) {
    fail(file, 'no sops metadata block (a top-level "sops" object): not a sops file');
  }
  const out: string[][] = [];
  for (const k of Object.keys(d)) if (k !== "sops") leaves(d[k], [k], out);
  return out;
}

function unquote(k: string, file: string, line: number): string {
  if (k.startsWith('"')) {
    try {
      return JSON.parse(k);
    } catch {
      fail(file, `line ${line}: bad quoted key`);
    }
  }
  if (k.startsWith("'")) {
    if (!k.endsWith("'") || k.length < 2) fail(file, `line ${line}: bad quoted key`);
    return k.slice(1, -1).replaceAll("''", "'");
  }
  return k;
}

const KEY_LINE =
  /^( *)("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"&*!{\[\-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/;

function fromYaml(text: string, file: string): string[][] {
  const stack: { indent: number; path: string[] }[] = [];
  /** Mappings (by path) that turned out to have children. */
  const parents = new Set<string>();
  const keys: { path: string[]; line: number }[] = [];
  let topSops = false;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, "");
    if (/^\s*(#.*)?$/.test(raw) || raw === "---" || raw === "...") continue;
    if (/^\t/.test(raw)) fail(file, `line ${i + 1}: tab indentation`);
    const indent = raw.length - raw.trimStart().length;
    const body = raw.trimStart();
    // Sequence items and continuation lines belong to the key above them.
    if (body.startsWith("- ") || body === "-") continue;
    const m = KEY_LINE.exec(raw);
    if (!m) {
      if (stack.length > 0 && indent > stack.at(-1)!.indent) continue; // a scalar's continuation
      fail(file, `line ${i + 1}: not a "key: value" line this reader understands`);
    }
    while (stack.length > 0 && stack.at(-1)!.indent >= indent) stack.pop();
    const parent = stack.at(-1)?.path ?? [];
    const path = [...parent, unquote(m[2]!.trim(), file, i + 1)];
    if (parent.length > 0) parents.add(parent.join("\u0000"));
    if (path.length === 1 && path[0] === "sops") topSops = true;
    keys.push({ path, line: i + 1 });
    const value = (m[3] ?? "").trim();
    if (value === "" || value.startsWith("#")) stack.push({ indent, path });
    else if (/^[|>]/.test(value)) stack.push({ indent, path: [...path, "\u0001scalar"] });
    else if (/^[{&*]/.test(value)) {
      fail(file, `line ${i + 1}: flow mappings and anchors are not supported`);
    }
  }
  if (!topSops) fail(file, 'no sops metadata block (a top-level "sops:" mapping): not a sops file');
  return keys
    .filter((k) => k.path[0] !== "sops" && !parents.has(k.path.join("\u0000")))
    .filter((k) => !k.path.includes("\u0001scalar"))
    .map((k) => k.path);
}

/** The secret names in a sops file's text (`file` names it in errors). */
export function sopsKeys(text: string, file: string): SopsKey[] {
  const trimmed = text.trimStart();
  const keys = trimmed.startsWith("{") || file.endsWith(".json")
    ? fromJson(text, file)
    : fromYaml(text, file);
  if (keys.length === 0) fail(file, "holds no secrets besides its sops metadata");
  return keys;
}

/** A key-name segment (`[a-z0-9][a-z0-9_]*`) from a sops name segment. */
export function slugSegment(s: string): string {
  const t = s.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+/, "").replace(/_+$/, "");
  return t === "" ? "x" : /^[a-z0-9]/.test(t) ? t : `x${t}`;
}
