/**
 * How Vault/OpenBao failures become broker errors. The caller only ever sees
 * the fixed BACKEND_UNAVAILABLE ("backend unavailable") or BACKEND_ERROR
 * ("backend operation failed") messages; what went wrong (status, the
 * backend's `errors` strings, the request path) goes to `detail`, which is
 * logged and never sent. Backend text is clipped and stripped of control
 * characters before it reaches `detail`, so a hostile backend cannot forge
 * log lines.
 * @module
 */

import { BasilError } from "../../core/errors.ts";

/** Longest backend-provided text kept in a detail. */
const MAX_DETAIL_TEXT = 200;

/** The backend could not be reached or did not answer in time. */
export function unavailable(detail: string): BasilError {
  return new BasilError("BACKEND_UNAVAILABLE", undefined, { detail });
}

/** The backend answered, but refused or answered nonsense. */
export function rejected(detail: string): BasilError {
  return new BasilError("BACKEND_ERROR", undefined, { detail });
}

/** An HTTP answer the engine did not expect: 502/503/504 are unavailability, the rest rejections. */
export function statusError(what: string, status: number, errors: readonly string[]): BasilError {
  const said = errors.length === 0 ? "" : `: ${errors.map(clip).join("; ")}`;
  const detail = `vault ${what}: HTTP ${status}${said}`;
  return status === 502 || status === 503 || status === 504
    ? unavailable(detail)
    : rejected(detail);
}

/** Backend text made safe for one log field. */
export function clip(text: string): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, " ");
  return clean.length > MAX_DETAIL_TEXT ? `${clean.slice(0, MAX_DETAIL_TEXT)}…` : clean;
}
