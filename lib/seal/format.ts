/**
 * The sealed bundle file (contract §6): magic `BASILBDL\0`, u16 BE
 * `format_version` = 1, then a compact JSON body
 * `{header_b64, header, slots, payload, deposits}`.
 *
 * Invariants:
 * - The AAD for the payload and every slot wrap is {@linkcode DecodedBundle.headerBytes},
 *   the decoded `header_b64` bytes exactly; the header is serialized once, at
 *   creation ({@linkcode encodeHeader}), and never re-serialized for AAD.
 * - {@linkcode decodeBundle} checks magic and version before any JSON, then
 *   validates every field (closed objects, canonical base64url, lengths,
 *   integer ranges) and requires `header` to equal the parsed `header_b64`.
 *   All failures are `InputError` with token `bundle_corrupt` (or
 *   `bundle_unsupported` for another format_version) and never quote content.
 * - {@linkcode encodeBundle} writes fields in upstream (serde declaration)
 *   order with `JSON.stringify`, so decode → encode is byte-identical for
 *   files upstream wrote. Field names mirror the file format (snake_case).
 * @module
 */

import type { z } from "zod";
import { InputError } from "../core/errors.ts";
import { toBase64Url, utf8 } from "../core/encoding.ts";
import { describeIssues } from "../core/validate.ts";
import { BodySchema, FORMAT_VERSION, HeaderSchema, SLOT_METHODS } from "./format_schema.ts";

export { FORMAT_VERSION, SLOT_METHODS };

/** `BASILBDL\0`. */
export const MAGIC: Uint8Array = utf8("BASILBDL\0");
/** The v1 suite ids. */
export const SUITE_V1 = {
  container: "json",
  payload_aead: "aes-256-gcm",
  kek_wrap_aead: "aes-256-gcm",
} as const;

/** One slot method name. */
export type SlotMethodName = typeof SLOT_METHODS[number];

/** The bundle header (its serialized bytes are the AAD). */
export interface BundleHeader {
  readonly format_version: 1;
  readonly bundle_id: Uint8Array;
  readonly created_unix: number;
  readonly epoch: number;
}

/** Argon2id costs as stored in a slot. */
export interface Argon2Params {
  readonly m_cost_kib: number;
  readonly t_cost: number;
  readonly p_cost: number;
}

/** Method-specific, non-secret slot parameters (tagged by `kind`). */
export type SlotParams =
  | { readonly kind: "passphrase"; readonly salt: Uint8Array; readonly argon2: Argon2Params }
  | { readonly kind: "bip39"; readonly salt: Uint8Array; readonly argon2: Argon2Params }
  | { readonly kind: "age-yubikey"; readonly recipient: string }
  | {
    readonly kind: "tpm";
    readonly public: Uint8Array;
    readonly private: Uint8Array;
    readonly pcrs: { readonly bank: string; readonly pcrs: readonly number[] };
    readonly name_alg: string;
    readonly srk_template: string;
  };

/** How a slot wraps the master KEK. */
export interface KekWrap {
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** One unlock slot. `label` and `created_unix` are not authenticated. */
export interface Slot {
  readonly slot_id: number;
  readonly method: SlotMethodName;
  readonly label: string;
  readonly created_unix: number;
  readonly params: SlotParams;
  readonly wrap: KekWrap;
}

/** The AES-256-GCM sealed payload. */
export interface SealedPayload {
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** One append-only credential deposit (plaintext metadata + sealed cred). */
export interface DepositRecord {
  readonly backend_id: string;
  readonly epoch: number;
  readonly seq: number;
  readonly contributor_key_id: string;
  readonly sealed_cred: {
    readonly encapsulated_key: Uint8Array;
    readonly nonce: Uint8Array;
    readonly ciphertext: Uint8Array;
  };
  readonly signature: Uint8Array;
}

/** A decoded bundle file. */
export interface DecodedBundle {
  /** The literal header bytes: the AAD. */
  readonly headerBytes: Uint8Array;
  readonly header: BundleHeader;
  readonly slots: readonly Slot[];
  readonly payload: SealedPayload;
  readonly deposits: readonly DepositRecord[];
}

/** Serializes a header once, at creation; the result is the AAD. */
export function encodeHeader(header: BundleHeader): Uint8Array {
  return utf8(JSON.stringify(headerJson(header)));
}

function headerJson(h: BundleHeader): unknown {
  return {
    format_version: h.format_version,
    suite: { ...SUITE_V1 },
    bundle_id: toBase64Url(h.bundle_id),
    created_unix: h.created_unix,
    epoch: h.epoch,
  };
}

function paramsJson(p: SlotParams): unknown {
  switch (p.kind) {
    case "passphrase":
    case "bip39":
      return {
        kind: p.kind,
        salt: toBase64Url(p.salt),
        argon2: {
          m_cost_kib: p.argon2.m_cost_kib,
          t_cost: p.argon2.t_cost,
          p_cost: p.argon2.p_cost,
        },
      };
    case "age-yubikey":
      return { kind: p.kind, recipient: p.recipient };
    case "tpm":
      return {
        kind: p.kind,
        public: toBase64Url(p.public),
        private: toBase64Url(p.private),
        pcrs: { bank: p.pcrs.bank, pcrs: [...p.pcrs.pcrs] },
        name_alg: p.name_alg,
        srk_template: p.srk_template,
      };
  }
}

const blob = (x: { nonce: Uint8Array; ciphertext: Uint8Array }) => ({
  nonce: toBase64Url(x.nonce),
  ciphertext: toBase64Url(x.ciphertext),
});

/** Serializes a bundle file. `headerBytes` is embedded verbatim as `header_b64`. */
export function encodeBundle(b: DecodedBundle): Uint8Array {
  const body = {
    header_b64: toBase64Url(b.headerBytes),
    header: headerJson(b.header),
    slots: b.slots.map((s) => ({
      slot_id: s.slot_id,
      method: s.method,
      label: s.label,
      created_unix: s.created_unix,
      params: paramsJson(s.params),
      wrap: blob(s.wrap),
    })),
    payload: blob(b.payload),
    deposits: b.deposits.map((d) => ({
      backend_id: d.backend_id,
      epoch: d.epoch,
      seq: d.seq,
      contributor_key_id: d.contributor_key_id,
      sealed_cred: {
        encapsulated_key: toBase64Url(d.sealed_cred.encapsulated_key),
        ...blob(d.sealed_cred),
      },
      signature: toBase64Url(d.signature),
    })),
  };
  const json = utf8(JSON.stringify(body));
  const out = new Uint8Array(MAGIC.length + 2 + json.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint16(MAGIC.length, FORMAT_VERSION, false);
  out.set(json, MAGIC.length + 2);
  return out;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function corrupt(file: string, what: string): InputError {
  return new InputError("bundle_corrupt", `bundle ${file}: corrupt or truncated: ${what}`);
}

function parseJson(bytes: Uint8Array, file: string, what: string): unknown {
  try {
    return JSON.parse(strictUtf8.decode(bytes));
  } catch {
    throw corrupt(file, `${what} is not valid UTF-8 JSON`);
  }
}

function validate<T>(schema: z.ZodType<T>, value: unknown, file: string, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues.slice(0, 1);
  throw new InputError(
    "bundle_corrupt",
    describeIssues(`bundle ${file}: corrupt or truncated: ${where}`, first),
  );
}

/** Decodes and validates a bundle file. `file` is used in messages only. */
export function decodeBundle(bytes: Uint8Array, file: string): DecodedBundle {
  if (bytes.length < MAGIC.length || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw corrupt(file, "bad magic, not a Basil sealed bundle");
  }
  if (bytes.length < MAGIC.length + 2) throw corrupt(file, "truncated before format_version");
  const version = (bytes[MAGIC.length]! << 8) | bytes[MAGIC.length + 1]!;
  if (version !== FORMAT_VERSION) {
    throw new InputError(
      "bundle_unsupported",
      `bundle ${file}: unsupported format_version ${version} (this build understands ${FORMAT_VERSION})`,
    );
  }
  const body = validate(
    BodySchema,
    parseJson(bytes.subarray(MAGIC.length + 2), file, "body"),
    file,
    "body",
  );
  const fromAad = validate(
    HeaderSchema,
    parseJson(body.header_b64, file, "header_b64"),
    file,
    "header_b64",
  );
  const h = body.header;
  if (
    fromAad.created_unix !== h.created_unix || fromAad.epoch !== h.epoch ||
    fromAad.bundle_id.some((b, i) => h.bundle_id[i] !== b)
  ) {
    throw corrupt(file, "header does not match header_b64");
  }
  const seen = new Set<number>();
  for (const s of body.slots) {
    if (s.params.kind !== s.method) {
      throw corrupt(file, `slot ${s.slot_id}: params.kind does not match method`);
    }
    if (seen.has(s.slot_id)) throw corrupt(file, `duplicate slot_id ${s.slot_id}`);
    seen.add(s.slot_id);
  }
  return {
    headerBytes: body.header_b64,
    header: {
      format_version: 1,
      bundle_id: h.bundle_id,
      created_unix: h.created_unix,
      epoch: h.epoch,
    },
    slots: body.slots,
    payload: body.payload,
    deposits: body.deposits,
  };
}
