/**
 * The `k=v,k=v` grammar shared by `--slot`, `--open` and `--backend` specs
 * (contract §5).
 *
 * Invariants: field names and values are non-empty (after trimming for the
 * emptiness check; values are otherwise kept verbatim); duplicates are
 * rejected; a bare part without `=` is accepted only as a comma continuation
 * of a field listed in `continuations` (`pcrs=0,2,4,7`). Errors name the flag
 * and the field, never a value, since a value may be a mistyped secret.
 * {@linkcode specFieldsFromTable} builds the same fields from a TOML table
 * (`bundle create --from`), under the same rules.
 * @module
 */

import { InputError } from "../core/errors.ts";

/** Parsed fields; {@linkcode SpecFields.take} removes as it reads. */
export class SpecFields {
  readonly #fields: Map<string, string>;
  readonly #flag: string;
  readonly #token: string;

  constructor(fields: Map<string, string>, flag: string, token: string) {
    this.#fields = fields;
    this.#flag = flag;
    this.#token = token;
  }

  /** An `InputError` for this spec: `--flag: reason`. */
  error(reason: string): InputError {
    return new InputError(this.#token, `${this.#flag}: ${reason}`);
  }

  /** Removes and returns an optional field. */
  take(name: string): string | undefined {
    const v = this.#fields.get(name);
    this.#fields.delete(name);
    return v;
  }

  /** Removes and returns a required field. */
  require(name: string, context: string): string {
    const v = this.take(name);
    if (v === undefined) throw this.error(`${context} requires field "${name}"`);
    return v;
  }

  /** Throws if any field was not consumed. */
  finish(context: string): void {
    const left = [...this.#fields.keys()];
    if (left.length > 0) {
      throw this.error(`unknown field ${left.map((k) => `"${k}"`).join(", ")} for ${context}`);
    }
  }
}

/** Parses `k=v[,k=v...]`; `text` may be empty (no fields). */
export function parseSpecFields(
  text: string,
  flag: string,
  token: string,
  continuations: readonly string[] = [],
): SpecFields {
  const fields = new Map<string, string>();
  const fail = (reason: string): InputError => new InputError(token, `${flag}: ${reason}`);
  let current: string | undefined;
  if (text !== "") {
    for (const part of text.split(",")) {
      const eq = part.indexOf("=");
      if (eq < 0) {
        if (current === undefined || !continuations.includes(current)) {
          throw fail("expected key=value");
        }
        if (part.trim() === "") throw fail(`field "${current}" has an empty list item`);
        fields.set(current, `${fields.get(current)},${part}`);
        continue;
      }
      const key = part.slice(0, eq);
      const value = part.slice(eq + 1);
      if (key.trim() === "") throw fail("field name must not be empty");
      if (!/^[a-z0-9-]+$/.test(key)) {
        throw fail("field names use lowercase letters, digits and '-'");
      }
      if (fields.has(key)) throw fail(`duplicate field "${key}"`);
      if (value.trim() === "") throw fail(`field "${key}" must not be empty`);
      fields.set(key, value);
      current = key;
    }
  }
  return new SpecFields(fields, flag, token);
}

/**
 * The fields of one TOML table (`[[slot]]`, `[[backend]]`), under the rules
 * of {@linkcode parseSpecFields}: `where` (e.g. `plan.toml: slot[1]`) takes
 * the flag's place in errors. Values are strings; integers are accepted and
 * kept as their decimal text; a field listed in `lists` may also be an
 * array of integers (`pcrs = [0, 2, 4, 7]`). Keys in `skip` are left out.
 */
export function specFieldsFromTable(
  table: Readonly<Record<string, unknown>>,
  where: string,
  token: string,
  options: { readonly lists?: readonly string[]; readonly skip?: readonly string[] } = {},
): SpecFields {
  const fields = new Map<string, string>();
  const fail = (reason: string): InputError => new InputError(token, `${where}: ${reason}`);
  for (const [key, value] of Object.entries(table)) {
    if (options.skip?.includes(key)) continue;
    if (!/^[a-z0-9-]+$/.test(key)) {
      throw fail(`field names use lowercase letters, digits and '-' (got "${key}")`);
    }
    let text: string;
    if (typeof value === "string") text = value;
    else if (typeof value === "number" && Number.isSafeInteger(value)) text = String(value);
    else if (typeof value === "bigint") text = value.toString();
    else if (
      Array.isArray(value) && options.lists?.includes(key) && value.length > 0 &&
      value.every((v) => typeof v === "number" && Number.isSafeInteger(v))
    ) text = value.join(",");
    else throw fail(`field "${key}" must be a string`);
    if (text.trim() === "") throw fail(`field "${key}" must not be empty`);
    fields.set(key, text);
  }
  return new SpecFields(fields, where, token);
}
