/**
 * zod schemas for the sealed bundle JSON body (contract §6), used by
 * `decodeBundle` in `format.ts`.
 *
 * Invariants: every object is closed; binary fields must be canonical
 * base64url without padding (and of fixed length where the format fixes
 * it: bundle_id 16, payload nonce 12, payload ciphertext ≥ 16); integers are
 * u32 (slot ids, Argon2 costs) or non-negative safe integers (times, epochs,
 * sequence numbers); `deposits` defaults to `[]`. Messages never quote a
 * value. Cross-field rules live in `decodeBundle`.
 * @module
 */

import { z } from "zod";
import { decodeBase64Url } from "../core/encoding.ts";

/** The only format version this build reads and writes. */
export const FORMAT_VERSION = 1;
/** Slot methods (`method` and `params.kind` use the same names). */
export const SLOT_METHODS = ["age-yubikey", "bip39", "passphrase", "tpm"] as const;

const B64 = (len?: { exact?: number; min?: number }) =>
  z.string().transform((s, ctx) => {
    const bytes = decodeBase64Url(s);
    if (bytes === undefined) {
      ctx.addIssue({ code: "custom", message: "expected canonical base64url without padding" });
      return z.NEVER;
    }
    if (len?.exact !== undefined && bytes.length !== len.exact) {
      ctx.addIssue({ code: "custom", message: `must decode to exactly ${len.exact} bytes` });
      return z.NEVER;
    }
    if (len?.min !== undefined && bytes.length < len.min) {
      ctx.addIssue({ code: "custom", message: `must decode to at least ${len.min} bytes` });
      return z.NEVER;
    }
    return bytes;
  });
const U32 = z.number().int().min(0).max(0xffff_ffff);
const U64 = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The header object (also the content of `header_b64`). */
export const HeaderSchema = z.strictObject({
  format_version: z.literal(FORMAT_VERSION),
  suite: z.strictObject({
    container: z.literal("json"),
    payload_aead: z.literal("aes-256-gcm"),
    kek_wrap_aead: z.literal("aes-256-gcm"),
  }),
  bundle_id: B64({ exact: 16 }),
  created_unix: U64,
  epoch: U64,
});
const Argon2Schema = z.strictObject({ m_cost_kib: U32, t_cost: U32, p_cost: U32 });
const ParamsSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("passphrase"), salt: B64(), argon2: Argon2Schema }),
  z.strictObject({ kind: z.literal("bip39"), salt: B64(), argon2: Argon2Schema }),
  z.strictObject({ kind: z.literal("age-yubikey"), recipient: z.string() }),
  z.strictObject({
    kind: z.literal("tpm"),
    public: B64(),
    private: B64(),
    pcrs: z.strictObject({ bank: z.string(), pcrs: z.array(U32) }),
    name_alg: z.string(),
    srk_template: z.string(),
  }),
]);
const BlobSchema = z.strictObject({ nonce: B64(), ciphertext: B64() });
const SlotSchema = z.strictObject({
  slot_id: U32,
  method: z.enum(SLOT_METHODS),
  label: z.string(),
  created_unix: U64,
  params: ParamsSchema,
  wrap: BlobSchema,
});
const DepositSchema = z.strictObject({
  backend_id: z.string(),
  epoch: U64,
  seq: U64,
  contributor_key_id: z.string(),
  sealed_cred: z.strictObject({ encapsulated_key: B64(), nonce: B64(), ciphertext: B64() }),
  signature: B64(),
});
/** The JSON body after magic and version. */
export const BodySchema = z.strictObject({
  header_b64: B64({ min: 1 }),
  header: HeaderSchema,
  slots: z.array(SlotSchema),
  payload: z.strictObject({ nonce: B64({ exact: 12 }), ciphertext: B64({ min: 16 }) }),
  deposits: z.array(DepositSchema).default([]),
});
