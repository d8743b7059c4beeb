/**
 * The 1Password provider URI of a bundle `OnePassword` credential (contract
 * §10): `onepassword://[account@]vault` signs in as a desktop/CLI account
 * (passed to `op` as `--account`), `onepassword+token://[token@]vault` uses a
 * service-account token (passed to `op` only as `OP_SERVICE_ACCOUNT_TOKEN`
 * in the child's environment). Each part is percent-encoded; an empty vault
 * is `Private`. The token is returned as {@linkcode SecretBytes} and never
 * appears in an error.
 * @module
 */

import { InputError } from "../../core/errors.ts";
import { SecretBytes } from "../../core/secret.ts";

/** The vault used when the URI names none. */
export const DEFAULT_VAULT = "Private";

/** A parsed provider URI. */
export interface OnePasswordTarget {
  readonly vault: string;
  /** `--account` (account form only). */
  readonly account?: string;
  /** The service-account token (token form only); the owner wipes it. */
  readonly token?: SecretBytes;
}

/**
 * Parses a provider URI. Errors name the credential field and the form
 * expected, never the token.
 */
export function parseProviderUri(uri: string, field = "provider_uri"): OnePasswordTarget {
  const bad = (why: string) =>
    new InputError(
      "backend_cred_invalid",
      `${field}: ${why} (expected onepassword://[account@]vault or onepassword+token://token@vault)`,
    );
  const m = /^(onepassword|onepassword\+token):\/\/(.*)$/s.exec(uri);
  if (!m) throw bad("not a 1Password provider URI");
  const token = m[1] === "onepassword+token";
  const rest = m[2]!;
  if (/[/?#\s]/.test(rest)) throw bad("has an unencoded '/', '?', '#' or space");
  const at = rest.lastIndexOf("@");
  const user = at < 0 ? undefined : rest.slice(0, at);
  const vault = decode(at < 0 ? rest : rest.slice(at + 1), "vault", bad) || DEFAULT_VAULT;
  if (!token) {
    const account = user === undefined ? undefined : decode(user, "account", bad);
    if (account === "") throw bad("has an empty account before '@'");
    return account === undefined ? { vault } : { vault, account };
  }
  if (user === undefined || user === "") throw bad("the token form needs a token before '@'");
  const bytes = percentDecodeBytes(user);
  if (bytes === undefined) throw bad("the token is not valid percent-encoding");
  return { vault, token: new SecretBytes(bytes) };
}

function decode(s: string, what: string, bad: (why: string) => InputError): string {
  const bytes = percentDecodeBytes(s);
  if (bytes === undefined) throw bad(`the ${what} is not valid percent-encoded UTF-8`);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw bad(`the ${what} is not valid percent-encoded UTF-8`);
  } finally {
    bytes.fill(0);
  }
}

/** Percent-decodes to bytes (no string holds a decoded token); undefined when malformed. */
function percentDecodeBytes(s: string): Uint8Array | undefined {
  const raw = new TextEncoder().encode(s);
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== 0x25) {
      out[n++] = c;
      continue;
    }
    const hi = hexVal(raw[i + 1]);
    const lo = hexVal(raw[i + 2]);
    if (hi === undefined || lo === undefined) {
      raw.fill(0);
      out.fill(0);
      return undefined;
    }
    out[n++] = hi * 16 + lo;
    i += 2;
  }
  raw.fill(0);
  const result = out.slice(0, n);
  out.fill(0);
  return result;
}

function hexVal(c: number | undefined): number | undefined {
  if (c === undefined) return undefined;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return undefined;
}
