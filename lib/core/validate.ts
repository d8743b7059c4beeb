/**
 * Turns zod issues into one {@linkcode InputError} naming the file, the field
 * path and the reason, so every loader reports bad input the same way.
 * Messages describe types and allowed values, never the offending value.
 * @module
 */

import type { z } from "zod";
import { InputError } from "./errors.ts";

/** Renders a field path as `keys["app.db"].writable` / `rules[2].target`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (typeof seg === "string" && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) {
      out += out === "" ? seg : `.${seg}`;
    } else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out === "" ? "(top level)" : out;
}

function reason(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "unrecognized_keys":
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${
        issue.keys.map((k) => JSON.stringify(k)).join(", ")
      }`;
    case "invalid_type":
      return issue.message.includes("received undefined")
        ? "required field is missing"
        : `expected ${issue.expected}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union":
      return "does not match any allowed form";
    case "too_small":
      return issue.origin === "array" || issue.origin === "string"
        ? `must not be empty`
        : `must be at least ${String(issue.minimum)}`;
    case "too_big":
      return `must be at most ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}

/** Formats issues as `file: path: reason` lines (first line is the headline). */
export function describeIssues(file: string, issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${file}: ${formatPath(i.path)}: ${reason(i)}`).join("\n");
}

/** Parses `value` with `schema` or throws an {@linkcode InputError}. */
export function parseOrThrow<T>(
  schema: z.ZodType<T>,
  value: unknown,
  file: string,
  token: string,
): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new InputError(token, describeIssues(file, r.error.issues));
}

/** Parses JSON text, reporting the position but not the content. */
export function parseJsonText(text: string, file: string, token: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const m = e instanceof SyntaxError ? /position (\d+)/.exec(e.message) : null;
    const where = m ? ` at offset ${m[1]}` : "";
    throw new InputError(token, `${file}: (top level): malformed JSON${where}`);
  }
}

/** Rejects duplicate keys in the named top-level objects of a JSON document. */
export function findDuplicateKeys(text: string, objects: readonly string[]): string | undefined {
  // JSON.parse keeps the last duplicate silently; scan the raw text of each
  // named object for repeated keys at depth 1.
  for (const name of objects) {
    const start = text.search(new RegExp(`"${name}"\\s*:\\s*\\{`));
    if (start < 0) continue;
    let i = text.indexOf("{", start);
    let depth = 0;
    const seen = new Set<string>();
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') {
        const end = scanString(text, i);
        const str = text.slice(i, end + 1);
        let j = end + 1;
        while (j < text.length && /\s/.test(text[j]!)) j++;
        if (depth === 1 && text[j] === ":") {
          const key = JSON.parse(str) as string;
          if (seen.has(key)) return `${name}: duplicate key ${JSON.stringify(key)}`;
          seen.add(key);
        }
        i = end;
      } else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) break;
      }
    }
  }
  return undefined;
}

function scanString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}
