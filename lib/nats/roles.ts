/**
 * The NATS role chain: which issuer role (the catalog key's `nats_type`
 * label) may sign which kind of JWT, and which NKey role its subject must
 * have. Only operator (`O`) and account (`A`) keys issue:
 *
 * | kind     | issuer | subject          |
 * |----------|--------|------------------|
 * | operator | O      | O (self or peer) |
 * | account  | O      | A                |
 * | user     | A      | U                |
 * | signer   | O / A  | same as issuer   |
 * | server   | O      | N                |
 * | curve    | O / A  | X                |
 *
 * nats-server and nats-io/jwt check the same prefixes for the three kinds
 * they know (operator, account, user); signer, server and curve JWTs are
 * Basil's attestations, held to the same discipline.
 * @module
 */

import type { NatsJwtType } from "./jwt.ts";
import type { NkeyRole } from "./nkey.ts";

/** An issuer role. */
export type IssuerRole = "O" | "A";

/** The subject role a kind requires from an issuer of `issuer` role, or undefined if it may not issue it. */
export function subjectRoleFor(kind: NatsJwtType, issuer: IssuerRole): NkeyRole | undefined {
  switch (kind) {
    case "operator":
      return issuer === "O" ? "O" : undefined;
    case "account":
      return issuer === "O" ? "A" : undefined;
    case "user":
      return issuer === "A" ? "U" : undefined;
    case "signer":
      return issuer;
    case "server":
      return issuer === "O" ? "N" : undefined;
    case "curve":
      return "X";
  }
}

/** Narrows a `nats_type` label value to an issuer role. */
export function issuerRoleOf(label: string | undefined): IssuerRole | undefined {
  return label === "O" || label === "A" ? label : undefined;
}
