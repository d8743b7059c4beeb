/**
 * The TPM slot without a TPM: wire-format builders (checked byte for byte
 * against TPM 2.0 Part 2 layouts), TPM_RC classification, option checks and
 * the library path helpers. The swtpm-backed tests are in
 * tests/e2e/tpm_slot_test.ts.
 * @module
 */

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../../lib/core/encoding.ts";
import { InputError } from "../../../lib/core/errors.ts";
import {
  isTpm2b,
  pcrSelection,
  readPublic,
  sealedTemplate,
  sensitiveCreate,
  srkTemplate,
  symDef,
} from "../../../ffi/_tss2_wire.ts";
import { TPM_RC, tpmErrorNumber } from "../../../ffi/tss2.ts";
import {
  DEFAULT_PCRS,
  findTss2Dir,
  SRK_TEMPLATE,
  TpmMethod,
  TSS2_LIBS,
  TSS2_ONLY_LIBS,
  tss2FfiPaths,
} from "../../../lib/seal/slots/tpm.ts";
import type { Slot } from "../../../lib/seal/format.ts";

const hex = (s: string) => fromHex(s.replace(/\s+/g, ""));

Deno.test("tpm wire: PCR selections are one sha256 bank with a 3-byte bitmap", () => {
  assert.equal(toHex(pcrSelection([7])), "00000001000b03800000");
  assert.equal(toHex(pcrSelection([0, 2, 4, 7])), "00000001000b03950000");
  assert.equal(toHex(pcrSelection([8, 23])), "00000001000b03000180");
  assert.throws(() => pcrSelection([24]), RangeError);
  assert.throws(() => pcrSelection([1.5]), RangeError);
});

Deno.test("tpm wire: the ecc-p256-srk-v1 template", () => {
  assert.equal(SRK_TEMPLATE, "ecc-p256-srk-v1");
  // size | ECC sha256 attrs(fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|noDA|
  // restricted|decrypt) | empty policy | AES-128-CFB | scheme NULL | P-256 | kdf NULL | unique 0,0
  const want = hex("001a 0023 000b 00030472 0000 0006 0080 0043 0010 0003 0010 0000 0000");
  assert.deepEqual(srkTemplate(), want);
  assert.ok(isTpm2b(srkTemplate()));
});

Deno.test("tpm wire: the sealed-object template has no userWithAuth and carries the policy", () => {
  const policy = new Uint8Array(32).fill(0xab);
  const t = sealedTemplate(policy);
  assert.equal(toHex(t.subarray(0, 12)), "002e0008000b000000120020");
  assert.deepEqual(t.subarray(12, 44), policy);
  assert.equal(toHex(t.subarray(44)), "00100000");
  assert.deepEqual(readPublic(t), {
    type: 0x0008,
    nameAlg: 0x000b,
    attributes: 0x12,
    authPolicy: policy,
  });
});

Deno.test("tpm wire: sensitive-create, sym defs and TPM2B parsing", () => {
  assert.equal(toHex(sensitiveCreate(new Uint8Array([1, 2, 3]))), "0007" + "0000" + "0003010203");
  assert.equal(toHex(sensitiveCreate(new Uint8Array())), "000400000000");
  assert.equal(sensitiveCreate(new Uint8Array(0xfffb)).length, 0x10001);
  assert.throws(() => sensitiveCreate(new Uint8Array(0xfffc)), RangeError);
  assert.equal(toHex(symDef(true)), "000600800043");
  assert.equal(toHex(symDef(false)), "0010");
  assert.equal(readPublic(new Uint8Array([0, 1, 0])), undefined);
  const t = sealedTemplate(new Uint8Array(32));
  assert.equal(readPublic(t.subarray(0, 20)), undefined, "truncated");
  assert.equal(readPublic(new Uint8Array([...t, 0])), undefined, "trailing byte");
  assert.ok(!isTpm2b(new Uint8Array([0, 3, 1])));
});

Deno.test("tpm rc: policy, integrity and PCR-changed codes are recognised across sessions", () => {
  // TPM 2.0 Part 2 §6.6: RC_VER1 = 0x100, RC_FMT1 = 0x080, RC_WARN = 0x900.
  assert.equal(TPM_RC.PCR_CHANGED, 0x100 + 0x028);
  assert.equal(TPM_RC.POLICY_FAIL, 0x080 + 0x01d);
  assert.equal(TPM_RC.INTEGRITY, 0x080 + 0x01f);
  assert.equal(tpmErrorNumber(0x99d), TPM_RC.POLICY_FAIL); // session 1
  assert.equal(tpmErrorNumber(0x9d), TPM_RC.POLICY_FAIL);
  assert.equal(tpmErrorNumber(0x1df), TPM_RC.INTEGRITY); // parameter 1
  assert.equal(tpmErrorNumber(0x29f), TPM_RC.INTEGRITY); // handle 2
  assert.equal(tpmErrorNumber(0xf9f), TPM_RC.INTEGRITY); // parameter 15
  assert.equal(tpmErrorNumber(0x128), TPM_RC.PCR_CHANGED); // what swtpm returns from Unseal
  assert.equal(tpmErrorNumber(0x167), 0x167); // not PCR_CHANGED
  assert.equal(tpmErrorNumber(0xa000a), undefined); // TCTI layer
  assert.equal(tpmErrorNumber(0x7000b), undefined); // ESYS layer
  assert.equal(tpmErrorNumber(0x90010), undefined); // MU layer
});

Deno.test("tpm rc: format-zero warnings stay distinct from the errors with the same number", () => {
  // RC_WARN + n vs RC_VER1 + n: TPM_RC_CONTEXT_GAP (0x901) vs TPM_RC_FAILURE (0x101),
  // TPM_RC_RETRY (0x922), TPM_RC_LOCALITY (0x907). A 0x7ff mask merged each pair.
  for (const [warning, error] of [[0x901, 0x101], [0x922, 0x122], [0x907, 0x107]] as const) {
    assert.equal(tpmErrorNumber(warning), warning);
    assert.equal(tpmErrorNumber(error), error);
    assert.notEqual(tpmErrorNumber(warning), tpmErrorNumber(error));
  }
  assert.notEqual(tpmErrorNumber(0x900 + 0x028), TPM_RC.PCR_CHANGED);
});

Deno.test("tpm method: PCR selection and bank are checked up front", () => {
  const refused = (re: RegExp) => (e: unknown) =>
    e instanceof InputError && e.token === "slot_spec_invalid" && re.test(e.message);
  const lib = "/usr/lib";
  assert.throws(
    () => new TpmMethod({ libDir: lib, pcrs: [24] }),
    refused(/^tpm: PCR index 24 is out of range 0\.\.23$/),
  );
  assert.throws(() => new TpmMethod({ libDir: lib, pcrs: [3, 3] }), refused(/distinct/));
  assert.throws(() => new TpmMethod({ libDir: lib, pcrs: [] }), refused(/at least one/));
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new TpmMethod({ libDir: lib, bank: "sha384" as any }),
    refused(/only sha256/),
  );
  assert.throws(() => new TpmMethod({ libDir: "lib" }), refused(/absolute/));
  assert.deepEqual(DEFAULT_PCRS, [0, 2, 4, 7]);
  new TpmMethod({ libDir: lib }).dispose();
});

Deno.test("tpm method: structurally bad params are an InputError before any TPM access", async () => {
  // libDir does not exist: reaching the libraries would fail differently.
  const m = new TpmMethod({ libDir: "/nonexistent", tcti: "device:/nonexistent" });
  const slot: Slot = {
    slot_id: 6,
    method: "tpm",
    label: "tpm",
    created_unix: 0,
    params: {
      kind: "tpm",
      public: sealedTemplate(new Uint8Array(32)),
      private: new Uint8Array([0, 2, 0, 0]),
      pcrs: { bank: "sha256", pcrs: [7] },
      name_alg: "sha256",
      srk_template: SRK_TEMPLATE,
    },
    wrap: { nonce: new Uint8Array(12), ciphertext: new Uint8Array(48) },
  };
  assert.ok(slot.params.kind === "tpm");
  const p = slot.params;
  const userWithAuth = sealedTemplate(new Uint8Array(32));
  userWithAuth[9]! |= 0x40;
  for (
    const params of [
      { ...p, pcrs: { bank: "sha1", pcrs: [7] } },
      { ...p, pcrs: { bank: "sha256", pcrs: [] } },
      { ...p, name_alg: "sha384" },
      { ...p, srk_template: "rsa2048-srk" },
      { ...p, public: userWithAuth },
      { ...p, public: sealedTemplate(new Uint8Array(20)) },
      { ...p, private: new Uint8Array([0, 9, 1]) },
    ]
  ) {
    await assert.rejects(
      m.open({ ...slot, params }, new Uint8Array()),
      (e) =>
        e instanceof InputError && e.token === "slot_params" && /^slot 6: tpm /.test(e.message),
    );
  }
  await assert.rejects(
    m.open(
      { ...slot, wrap: { nonce: new Uint8Array(8), ciphertext: new Uint8Array(48) } },
      new Uint8Array(),
    ),
    (e) => e instanceof InputError && e.token === "slot_params",
  );
  m.dispose();
  await assert.rejects(m.open(slot, new Uint8Array()), TypeError);
});

Deno.test("tpm libs: with a libc override, the search needs only the libtss2 libraries", async () => {
  const root = await Deno.makeTempDir({ prefix: "basil-tss2dir-" });
  try {
    const tssOnly = `${root}/tss-only`;
    const full = `${root}/full`;
    for (const [dir, files] of [[tssOnly, TSS2_ONLY_LIBS], [full, TSS2_LIBS]] as const) {
      Deno.mkdirSync(dir);
      for (const f of files) Deno.writeFileSync(`${dir}/${f}`, new Uint8Array());
    }
    const candidates = [tssOnly, full];
    // Without an override libc must sit next to libtss2 (it is opened as <dir>/libc.so.6).
    assert.equal(findTss2Dir({ candidates }), full);
    assert.equal(findTss2Dir({ candidates: [tssOnly] }), undefined);
    // With one (NixOS: glibc and tpm2-tss live in different store paths) it need not.
    assert.equal(findTss2Dir({ candidates, libc: "/nix/store/y-glibc/lib/libc.so.6" }), tssOnly);
    assert.equal(findTss2Dir({ candidates: [`${root}/none`] }), undefined);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("tpm libs: scoped --allow-ffi paths are exact and libc can be overridden", () => {
  assert.deepEqual([...TSS2_LIBS].sort(), [
    "libc.so.6",
    "libtss2-esys.so.0",
    "libtss2-mu.so.0",
    "libtss2-rc.so.0",
    "libtss2-tctildr.so.0",
  ]);
  assert.deepEqual(tss2FfiPaths({ libDir: "/l" }).sort(), TSS2_LIBS.map((f) => `/l/${f}`).sort());
  const nix = tss2FfiPaths({
    libDir: "/nix/store/x-tpm2-tss/lib",
    libc: "/nix/store/y-glibc/lib/libc.so.6",
  });
  assert.ok(nix.includes("/nix/store/y-glibc/lib/libc.so.6"));
  assert.ok(nix.includes("/nix/store/x-tpm2-tss/lib/libtss2-esys.so.0"));
  assert.equal(nix.length, 5);
});
