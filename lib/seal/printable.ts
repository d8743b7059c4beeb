/**
 * Terminal-safe rendering of untrusted text (a deposit's `backend_id` or
 * `contributor_key_id`, a slot `label`, an age plugin's error arguments):
 * anyone who can append to a bundle file controls those strings, so they
 * must not reach a terminal with control characters in them.
 *
 * Invariants: C0 controls, DEL, C1 controls, the Unicode line and paragraph
 * separators and the bidirectional formatting characters are rendered as
 * `\xNN` / `\u{N}`; everything else is kept verbatim, so ordinary text
 * (including non-ASCII letters) prints unchanged.
 * @module
 */

// C0, DEL, C1, LRM/RLM/ALM, line/paragraph separators, bidi embeddings,
// overrides and isolates, and the BOM / zero-width no-break space.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/gu;

/** `text` with every non-printable character escaped (`\x1b`, `\u{202e}`). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const cp = c.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, "0")}` : `\\u{${cp.toString(16)}}`;
  });
}
