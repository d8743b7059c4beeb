/**
 * DER ↔ PEM for certificates (RFC 7468): 64-column base64 between
 * `-----BEGIN <label>-----` and `-----END <label>-----` lines.
 * @module
 */

import { fromBase64, toBase64 } from "../../core/encoding.ts";

/** The PEM label of a certificate. */
export const CERTIFICATE_LABEL = "CERTIFICATE";

/** DER → one PEM block (with a trailing newline). */
export function derToPem(der: Uint8Array, label: string = CERTIFICATE_LABEL): string {
  const b64 = toBase64(der);
  const lines = [`-----BEGIN ${label}-----`];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(`-----END ${label}-----`, "");
  return lines.join("\n");
}

/** Several DER objects → concatenated PEM blocks (a bundle). */
export function dersToPem(ders: readonly Uint8Array[], label: string = CERTIFICATE_LABEL): string {
  return ders.map((d) => derToPem(d, label)).join("");
}

/**
 * Every `label` block of `text`, decoded, in order. Text outside blocks is
 * ignored; throws `SyntaxError` for a block that is unterminated or whose
 * body is not base64.
 */
export function pemToDers(text: string, label: string = CERTIFICATE_LABEL): Uint8Array[] {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const out: Uint8Array[] = [];
  let at = text.indexOf(begin);
  while (at >= 0) {
    const stop = text.indexOf(end, at + begin.length);
    if (stop < 0) throw new SyntaxError(`unterminated PEM ${label} block`);
    const body = text.slice(at + begin.length, stop).replace(/\s+/g, "");
    if (body.length === 0) throw new SyntaxError(`empty PEM ${label} block`);
    out.push(fromBase64(body));
    at = text.indexOf(begin, stop + end.length);
  }
  return out;
}
