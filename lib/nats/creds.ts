/**
 * The `.creds` file nsc and nats-io/jwt write (`FormatUserConfig`): the
 * user JWT between `-----BEGIN NATS USER JWT-----` / `------END NATS USER
 * JWT------`, the IMPORTANT banner, the user seed between `-----BEGIN USER
 * NKEY SEED-----` / `------END USER NKEY SEED------`, and a line of
 * asterisks. Built as bytes so the seed never becomes a JavaScript string.
 * @module
 */

import { concat, utf8 } from "../core/encoding.ts";
import { decodeNatsJwt } from "./jwt.ts";
import { seedIdentity } from "./nkey.ts";

const BANNER = "************************* IMPORTANT *************************\n" +
  "NKEY Seed printed below can be used to sign and prove identity.\n" +
  "NKEYs are sensitive and should be treated as secrets.\n\n";

/** Why a `.creds` could not be built. */
export class CredsError extends Error {
  override readonly name = "CredsError";
}

/**
 * The `.creds` bytes for a user JWT and its seed (ASCII, surrounding white
 * space ignored). Throws {@linkcode CredsError} when the JWT is not a user
 * JWT, the seed is not a user seed, or the seed's public key is not the
 * JWT's subject. The caller wipes `seed` and the result.
 */
export function formatCreds(jwt: string, seed: Uint8Array): Uint8Array {
  const token = jwt.trim();
  const d = decodeNatsJwt(token);
  if (!d || d.type !== "user") throw new CredsError("the JWT is not a NATS user JWT");
  let from = 0;
  let to = seed.length;
  while (from < to && /\s/.test(String.fromCharCode(seed[from]!))) from++;
  while (to > from && /\s/.test(String.fromCharCode(seed[to - 1]!))) to--;
  const s = seed.subarray(from, to);
  const id = seedIdentity(s);
  if (!id || id.role !== "U") throw new CredsError("the seed is not a NATS user seed");
  if (id.publicNkey !== d.subject) {
    throw new CredsError("the seed does not belong to the JWT's subject");
  }
  return concat(
    utf8(`-----BEGIN NATS USER JWT-----\n${token}\n------END NATS USER JWT------\n\n`),
    utf8(BANNER),
    utf8("-----BEGIN USER NKEY SEED-----\n"),
    s,
    utf8(
      "\n------END USER NKEY SEED------\n\n*************************************************************\n",
    ),
  );
}
