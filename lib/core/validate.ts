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
    case "invalid_key": {
      const inner = issue.issues[0];
      return `bad key${inner ? `: ${inner.message ?? "invalid"}` : ""}`;
    }
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

/**
 * Parses JSON text strictly (RFC 8259). A syntax error reports the character
 * offset, line and column but never the content; a repeated member name in
 * any object is an error naming its field path, because `JSON.parse` would
 * keep the last one silently and hide what the file's author wrote first.
 */
export function parseJsonText(text: string, file: string, token: string): unknown {
  const r = new JsonReader(text);
  try {
    return r.document();
  } catch (e) {
    if (e instanceof JsonDuplicate) {
      throw new InputError(
        token,
        `${file}: ${formatPath(e.path)}: duplicate key ${JSON.stringify(e.key)}`,
      );
    }
    if (!(e instanceof JsonSyntax)) throw e;
    const before = text.slice(0, e.offset);
    const line = before.split("\n").length;
    const column = e.offset - (before.lastIndexOf("\n") + 1) + 1;
    throw new InputError(
      token,
      `${file}: (top level): malformed JSON at offset ${e.offset} (line ${line} column ${column}): ${e.what}`,
    );
  }
}

class JsonSyntax extends Error {
  constructor(readonly offset: number, readonly what: string) {
    super(what);
  }
}

class JsonDuplicate extends Error {
  constructor(readonly path: PropertyKey[], readonly key: string) {
    super("duplicate key");
  }
}

const MAX_DEPTH = 256;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/** A small recursive-descent JSON reader that knows where it is. */
class JsonReader {
  #i = 0;
  #path: PropertyKey[] = [];
  #dup: JsonDuplicate | undefined;
  constructor(readonly text: string) {}

  document(): unknown {
    this.#ws();
    const v = this.#value(0);
    this.#ws();
    if (this.#i < this.text.length) this.#fail("unexpected data after the document");
    if (this.#dup) throw this.#dup;
    return v;
  }

  #fail(what: string): never {
    throw new JsonSyntax(this.#i, what);
  }

  #ws(): void {
    const t = this.text;
    while (this.#i < t.length) {
      const c = t.charCodeAt(this.#i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.#i++;
      else break;
    }
  }

  #value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.#fail("nesting too deep");
    const c = this.text[this.#i];
    if (c === undefined) this.#fail("unexpected end of input");
    if (c === "{") return this.#object(depth);
    if (c === "[") return this.#array(depth);
    if (c === '"') return this.#string();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (this.text.startsWith(word, this.#i)) {
        this.#i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = this.#i;
    const m = NUMBER.exec(this.text);
    if (m) {
      this.#i += m[0].length;
      return Number(m[0]);
    }
    this.#fail("unexpected character");
  }

  #string(): string {
    const t = this.text;
    const start = this.#i;
    let j = start + 1;
    for (;;) {
      if (j >= t.length) {
        this.#i = j;
        this.#fail("unterminated string");
      }
      const c = t.charCodeAt(j);
      if (c === 0x22) break;
      if (c < 0x20) {
        this.#i = j;
        this.#fail("control character in string");
      }
      if (c === 0x5c) {
        ESCAPE.lastIndex = j;
        if (!ESCAPE.test(t)) {
          this.#i = j;
          this.#fail("bad escape in string");
        }
        j = ESCAPE.lastIndex;
      } else j++;
    }
    this.#i = j + 1;
    return JSON.parse(t.slice(start, j + 1)) as string;
  }

  #object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.#i++;
    this.#ws();
    if (this.text[this.#i] === "}") {
      this.#i++;
      return out;
    }
    for (;;) {
      if (this.text[this.#i] !== '"') this.#fail("expected a member name");
      const key = this.#string();
      // Syntax errors take precedence, so remember only the first duplicate.
      if (seen.has(key)) this.#dup ??= new JsonDuplicate([...this.#path], key);
      seen.add(key);
      this.#ws();
      if (this.text[this.#i] !== ":") this.#fail("expected ':'");
      this.#i++;
      this.#ws();
      this.#path.push(key);
      const v = this.#value(depth + 1);
      this.#path.pop();
      // Own data property, like JSON.parse (so "__proto__" stays a plain key).
      Object.defineProperty(out, key, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.#ws();
      const c = this.text[this.#i];
      this.#i++;
      if (c === "}") return out;
      if (c !== ",") {
        this.#i--;
        this.#fail("expected ',' or '}'");
      }
      this.#ws();
    }
  }

  #array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.#i++;
    this.#ws();
    if (this.text[this.#i] === "]") {
      this.#i++;
      return out;
    }
    for (;;) {
      this.#path.push(out.length);
      out.push(this.#value(depth + 1));
      this.#path.pop();
      this.#ws();
      const c = this.text[this.#i];
      this.#i++;
      if (c === "]") return out;
      if (c !== ",") {
        this.#i--;
        this.#fail("expected ',' or ']'");
      }
      this.#ws();
    }
  }
}
