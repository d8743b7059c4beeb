/**
 * UTF-8 checks and trimming done directly on bytes, so secret text (a token,
 * a PEM key) is validated and trimmed without ever becoming a JavaScript
 * string, which could not be wiped.
 *
 * Invariants: {@linkcode isValidUtf8} accepts exactly well-formed UTF-8
 * (no overlongs, no surrogates, nothing above U+10FFFF);
 * {@linkcode trimUnicodeWhitespace} trims the Unicode `White_Space` set, the
 * same set as Rust's `str::trim`.
 * @module
 */

/** Whether `bytes` is well-formed UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}

/**
 * Length of the well-formed UTF-8 sequence starting at `i`, or 0 if the bytes
 * there are not one.
 */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const x = b[i + k];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

function isWhiteSpace(cp: number): boolean {
  return (cp >= 0x09 && cp <= 0x0d) || cp === 0x20 || cp === 0x85 || cp === 0xa0 ||
    cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 ||
    cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

function codePointAt(b: Uint8Array, i: number, n: number): number {
  if (n === 1) return b[i]!;
  let cp = b[i]! & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) cp = (cp << 6) | (b[i + k]! & 0x3f);
  return cp;
}

/**
 * The `[start, end)` range of `bytes` without leading and trailing Unicode
 * whitespace. `bytes` must be valid UTF-8.
 */
export function trimUnicodeWhitespace(bytes: Uint8Array): [number, number] {
  let start = 0;
  while (start < bytes.length) {
    const n = sequenceLength(bytes, start);
    if (n === 0 || !isWhiteSpace(codePointAt(bytes, start, n))) break;
    start += n;
  }
  let end = bytes.length;
  while (end > start) {
    let lead = end - 1;
    while (lead > start && (bytes[lead]! & 0xc0) === 0x80) lead--;
    const n = sequenceLength(bytes, lead);
    if (n !== end - lead || !isWhiteSpace(codePointAt(bytes, lead, n))) break;
    end = lead;
  }
  return [start, end];
}
