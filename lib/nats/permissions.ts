/**
 * Checks of the NATS subjects a user JWT's permissions list. A subject is
 * dot-separated non-empty tokens of printable non-space characters; `*` is
 * a whole token and `>` only the last one; a subscribe entry may add one
 * space and a queue group name (`foo.* workers`).
 * @module
 */

import { invalidRequest } from "../core/errors.ts";

/** Longest subject accepted, in characters. */
export const MAX_SUBJECT_CHARS = 1024;
/** Most entries in one permission list. */
export const MAX_SUBJECTS = 1000;

const TOKEN = /^[\x21-\x7e\u00a0-\uffff]+$/u;

function isSubject(s: string): boolean {
  const tokens = s.split(".");
  return tokens.every((t, i) =>
    TOKEN.test(t) &&
    (t === "*" || t === ">" || !/[*>]/.test(t)) &&
    (t !== ">" || i === tokens.length - 1)
  );
}

/** Whether `s` is a subject (or, with `queue`, a subject plus one queue group). */
export function isPermissionSubject(s: string, queue: boolean): boolean {
  if (s.length === 0 || s.length > MAX_SUBJECT_CHARS) return false;
  const parts = s.split(" ");
  if (parts.length === 2 && queue) return isSubject(parts[0]!) && TOKEN.test(parts[1]!);
  return parts.length === 1 && isSubject(s);
}

/** Throws INVALID_REQUEST naming `field` unless every entry is a valid subject. */
export function checkSubjects(
  list: readonly string[],
  field: string,
  queue: boolean,
  op: string,
): string[] {
  if (list.length > MAX_SUBJECTS) {
    throw invalidRequest(`${field} has more than ${MAX_SUBJECTS} entries`, op);
  }
  list.forEach((s, i) => {
    if (!isPermissionSubject(s, queue)) {
      throw invalidRequest(`${field}[${i}] is not a NATS subject`, op);
    }
  });
  return [...list];
}
