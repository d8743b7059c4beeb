/**
 * The TPM slot against real swtpm instances (tpm2-tss ESYS over FFI), with
 * tpm2-tools as an independent oracle for the PolicyPCR digest and to extend
 * PCRs. Needs swtpm + tpm2-tools on PATH and the libtss2 runtime libraries.
 * @module
 */

import assert from "node:assert/strict";
import { toHex } from "../../lib/core/encoding.ts";
import { InputError } from "../../lib/core/errors.ts";
import {
  decodeBundle,
  type DecodedBundle,
  encodeBundle,
  encodeHeader,
  type Slot,
} from "../../lib/seal/format.ts";
import {
  findTss2Dir,
  sealKey,
  TpmMethod,
  type TpmOptions,
  TpmSlotOpenFailed,
  TSS2_LIBS,
  tss2FfiPaths,
  unsealKey,
} from "../../lib/seal/slots/tpm.ts";
import {
  type EsysContext,
  SESSION_TYPE,
  TPM_RC,
  tpmErrorNumber,
  Tss2,
  Tss2Error,
  Tss2WireError,
} from "../../ffi/tss2.ts";
import { SlotOpenFailed } from "../../lib/seal/slots/types.ts";
import { pcrSelection, readPublic, sealedTemplate, srkTemplate } from "../../ffi/_tss2_wire.ts";
import { gated, type Need, permission } from "../helpers/peers.ts";
import { closedPort, containsBytes, RecordingRelay, Swtpm } from "../helpers/swtpm.ts";

const randomBytes = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

// ESYS prints TPM errors (expected here: policy failures) on stderr unless told not to.
Deno.env.set("TSS2_LOG", "all+none");

const LIB_DIR = findTss2Dir();
/** The libtss2 runtime and leave to load it: enough for the FFI-only tests. */
const HAVE_LIBS: readonly Need[] = [
  { met: LIB_DIR !== undefined, what: "the libtss2 runtime libraries (libtss2-esys.so.0, ...)" },
  permission("ffi"),
];
/** A software TPM and the tpm2-tools oracle as well. */
const SWTPM: readonly Need[] = [
  ...HAVE_LIBS,
  "swtpm",
  "tpm2_pcrextend",
  "tpm2_policypcr",
  "tpm2_startauthsession",
  "tpm2_getcap",
];

const PROBE = new URL("../fixtures/tpm/scoped_probe.ts", import.meta.url).pathname;
const HEADER_FIELDS = {
  format_version: 1,
  bundle_id: new Uint8Array(16).fill(9),
  created_unix: 1_700_000_000,
  epoch: 1,
} as const;
const HEADER = encodeHeader(HEADER_FIELDS);
const KEK = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 ^ i);
const ARGON2 = { m_cost_kib: 64, t_cost: 1, p_cost: 1 };

function method(opts: Partial<TpmOptions> = {}): TpmMethod {
  if (LIB_DIR === undefined) throw new Error("libtss2 runtime libraries not found");
  return new TpmMethod({ libDir: LIB_DIR, ...opts });
}

/** Runs `fn` with a TPM method on `opts`, disposed afterwards. */
async function withMethod(
  opts: Partial<TpmOptions>,
  fn: (m: TpmMethod) => Promise<void>,
): Promise<void> {
  const m = method(opts);
  try {
    await fn(m);
  } finally {
    m.dispose();
  }
}

/** Runs `fn` with a fresh swtpm and a TPM method on it (`opts` added). */
async function onSwtpm(
  fn: (m: TpmMethod, tpm: Swtpm) => Promise<void>,
  opts: Partial<TpmOptions> = {},
): Promise<void> {
  await using tpm = await Swtpm.start();
  await withMethod({ tcti: tpm.tcti, ...opts }, (m) => fn(m, tpm));
}

/** Runs `fn` with the tss2 libraries open (from `LIB_DIR`), closed afterwards. */
async function withTss2<T>(fn: (tss2: Tss2) => T | Promise<T>): Promise<T> {
  const tss2 = new Tss2(LIB_DIR!, `${LIB_DIR}/libc.so.6`);
  try {
    return await fn(tss2);
  } finally {
    tss2.close();
  }
}

/** Runs `fn` on an ESYS context connected to `tcti`, closed afterwards. */
function withContext<T>(tss2: Tss2, tcti: string, fn: (esys: EsysContext) => T): T {
  const esys = tss2.connect(tcti);
  try {
    return fn(esys);
  } finally {
    esys.close();
  }
}

async function createSlot(m: TpmMethod, slotId = 2): Promise<Slot> {
  const { params, wrap } = await m.create(KEK, { headerBytes: HEADER, slotId, argon2: ARGON2 });
  return { slot_id: slotId, method: "tpm", label: "tpm", created_unix: 0, params, wrap };
}

function failsWith(reason: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof SlotOpenFailed, `expected SlotOpenFailed, got ${e}`);
    assert.ok(e instanceof TpmSlotOpenFailed);
    assert.match(e.reason, reason);
    assert.equal(e.message, e.reason);
    return true;
  };
}

Deno.test(gated(SWTPM, {
  name: "tpm slot: create then open returns the KEK; params survive the bundle codec",
  fn: () =>
    onSwtpm(async (m, tpm) => {
      const slot = await createSlot(m);
      assert.ok(slot.params.kind === "tpm");
      assert.deepEqual(slot.params.pcrs, { bank: "sha256", pcrs: [0, 2, 4, 7] });
      assert.equal(slot.params.name_alg, "sha256");
      assert.equal(slot.params.srk_template, "ecc-p256-srk-v1");
      assert.equal(slot.wrap.nonce.length, 12);
      assert.equal(slot.wrap.ciphertext.length, 48);
      const pub = readPublic(slot.params.public);
      assert.ok(pub !== undefined);
      assert.equal(pub.type, 0x0008); // KEYEDHASH
      assert.equal(pub.attributes & 0x40, 0, "no userWithAuth");

      const bundle: DecodedBundle = {
        headerBytes: HEADER,
        header: HEADER_FIELDS,
        slots: [slot],
        payload: { nonce: randomBytes(12), ciphertext: randomBytes(32) },
        deposits: [],
      };
      const bytes = encodeBundle(bundle);
      const json = JSON.parse(new TextDecoder().decode(bytes.subarray(11)));
      assert.deepEqual(Object.keys(json.slots[0].params), [
        "kind",
        "public",
        "private",
        "pcrs",
        "name_alg",
        "srk_template",
      ]);
      assert.match(json.slots[0].params.public, /^[A-Za-z0-9_-]+$/);
      const decoded = decodeBundle(bytes, "test.bundle");
      assert.deepEqual(decoded.slots[0], slot);
      assert.deepEqual(encodeBundle(decoded), bytes);

      assert.deepEqual(await m.open(decoded.slots[0]!, decoded.headerBytes), KEK);
      // A second, fresh method (as at the next boot) opens it too.
      await withMethod({ tcti: tpm.tcti }, async (again) => {
        assert.deepEqual(await again.open(slot, HEADER), KEK);
      });
    }),
}));

Deno.test(gated(SWTPM, {
  name: "tpm slot: extending a selected PCR closes it; an unselected PCR does not",
  fn: () =>
    onSwtpm(async (m, tpm) => {
      const slot = await createSlot(m);
      await tpm.pcrExtend(5, randomBytes(32));
      assert.deepEqual(await m.open(slot, HEADER), KEK);
      await tpm.pcrExtend(7, randomBytes(32));
      await assert.rejects(m.open(slot, HEADER), failsWith(/^tpm: PCR policy check failed$/));
    }),
}));

Deno.test(gated(SWTPM, {
  name: "tpm slot: another TPM (fresh state) cannot open it",
  fn: async () => {
    await using second = await Swtpm.start();
    await onSwtpm((a) =>
      withMethod({ tcti: second.tcti }, async (b) => {
        const slot = await createSlot(a);
        await assert.rejects(b.open(slot, HEADER), failsWith(/not made by this TPM/));
        assert.deepEqual(await a.open(slot, HEADER), KEK);
      })
    );
  },
}));

Deno.test(gated(HAVE_LIBS, {
  name: "tpm slot: no TPM fails closed (closed port, missing device); create reports it",
  fn: async () => {
    const slot: Slot = {
      slot_id: 0,
      method: "tpm",
      label: "tpm",
      created_unix: 0,
      params: {
        kind: "tpm",
        // Structurally valid blobs: the TPM is never reached.
        public: sealedTemplate(new Uint8Array(32)),
        private: Uint8Array.from([0, 2, 0, 0]),
        pcrs: { bank: "sha256", pcrs: [0, 2, 4, 7] },
        name_alg: "sha256",
        srk_template: "ecc-p256-srk-v1",
      },
      wrap: { nonce: new Uint8Array(12), ciphertext: new Uint8Array(48) },
    };
    for (const tcti of [`swtpm:host=127.0.0.1,port=${closedPort()}`, "device:/nonexistent"]) {
      await withMethod({ tcti }, async (m) => {
        await assert.rejects(m.open(slot, HEADER), failsWith(/^tpm: no TPM device/));
        await assert.rejects(
          m.create(KEK, { headerBytes: HEADER, slotId: 0, argon2: ARGON2 }),
          (e) =>
            e instanceof InputError && e.token === "tpm_unavailable" &&
            /no TPM device/.test(e.message),
        );
      });
    }
    // Libraries that are not there also fail closed (a host without tpm2-tss).
    const none = new TpmMethod({ libDir: "/nonexistent", tcti: "device:/nonexistent" });
    await assert.rejects(none.open(slot, HEADER), failsWith(/TSS2 libraries not available/));
    none.dispose();
  },
}));

Deno.test(gated(SWTPM, {
  name: "tpm slot: custom PCR selection [7]; out-of-range and duplicate PCRs are refused",
  fn: async () => {
    await onSwtpm(async (m, tpm) => {
      const slot = await createSlot(m);
      assert.ok(slot.params.kind === "tpm");
      assert.deepEqual(slot.params.pcrs.pcrs, [7]);
      await tpm.pcrExtend(0, randomBytes(32));
      assert.deepEqual(await m.open(slot, HEADER), KEK);
      await tpm.pcrExtend(7, randomBytes(32));
      await assert.rejects(m.open(slot, HEADER), failsWith(/PCR policy check failed/));
    }, { pcrs: [7] });
    const refused = (re: RegExp) => (e: unknown) =>
      e instanceof InputError && e.token === "slot_spec_invalid" && re.test(e.message);
    assert.throws(() => method({ pcrs: [0, 24] }), refused(/PCR index 24 is out of range 0\.\.23/));
    assert.throws(() => method({ pcrs: [-1] }), refused(/out of range/));
    assert.throws(() => method({ pcrs: [7, 7] }), refused(/distinct/));
    assert.throws(() => method({ pcrs: [] }), refused(/at least one PCR/));
    // deno-lint-ignore no-explicit-any
    assert.throws(() => method({ bank: "sha1" as any }), refused(/only sha256/));
  },
}));

Deno.test(gated(SWTPM, {
  name: "tpm slot: the sealed object's PolicyPCR digest equals tpm2_policypcr's (oracle)",
  fn: async () => {
    await using tpm = await Swtpm.start();
    // Non-trivial PCR values first, so the digest depends on them.
    for (const i of [0, 4, 7]) await tpm.pcrExtend(i, randomBytes(32));
    for (const pcrs of [[0, 2, 4, 7], [7]]) {
      await withMethod({ tcti: tpm.tcti, pcrs }, async (m) => {
        const slot = await createSlot(m);
        assert.ok(slot.params.kind === "tpm");
        const ours = readPublic(slot.params.public)?.authPolicy;
        const oracle = await tpm.policyPcr(pcrs);
        assert.equal(oracle.length, 32);
        assert.deepEqual(ours, oracle, `policy digest for sha256:${pcrs}`);
      });
    }
  },
}));

Deno.test(gated(SWTPM, {
  name: "tpm slot: a tampered slot fails closed; malformed params are an InputError",
  fn: () =>
    onSwtpm(async (m, tpm) => {
      const slot = await createSlot(m, 4);
      assert.ok(slot.params.kind === "tpm");
      const p = slot.params;
      // Wrap bound to header ‖ slot_id.
      await assert.rejects(
        m.open({ ...slot, slot_id: 5 }, HEADER),
        failsWith(/KEK wrap did not authenticate/),
      );
      await assert.rejects(
        m.open(slot, new Uint8Array([...HEADER, 0x20])),
        failsWith(/KEK wrap did not authenticate/),
      );
      // A changed PCR list changes the policy: the TPM refuses to unseal.
      await assert.rejects(
        m.open({ ...slot, params: { ...p, pcrs: { bank: "sha256", pcrs: [0, 2, 4] } } }, HEADER),
        failsWith(/PCR policy check failed/),
      );
      // A flipped authPolicy byte changes the object's name: Load fails the integrity check.
      const pub = p.public.slice();
      pub[20]! ^= 1;
      await assert.rejects(
        m.open({ ...slot, params: { ...p, public: pub } }, HEADER),
        failsWith(/not made by this TPM|cannot load/),
      );
      const priv = p.private.slice();
      priv[40]! ^= 1;
      await assert.rejects(
        m.open({ ...slot, params: { ...p, private: priv } }, HEADER),
        failsWith(/not made by this TPM|cannot load/),
      );
      const unusable = (e: unknown) => e instanceof InputError && e.token === "slot_params";
      for (
        const params of [
          { ...p, pcrs: { bank: "sha1", pcrs: [7] } },
          { ...p, pcrs: { bank: "sha256", pcrs: [99] } },
          { ...p, name_alg: "sha1" },
          { ...p, srk_template: "rsa-2048" },
          { ...p, public: new Uint8Array([0, 1, 0]) },
          { ...p, private: p.private.subarray(0, 10) },
        ]
      ) {
        await assert.rejects(m.open({ ...slot, params }, HEADER), unusable);
      }
      assert.deepEqual(await m.open(slot, HEADER), KEK);
      // Every transient object and session was flushed, failures included.
      assert.equal((await tpm.tool("tpm2_getcap", ["handles-transient"])).trim(), "");
      assert.equal((await tpm.tool("tpm2_getcap", ["handles-loaded-session"])).trim(), "");
    }),
}));

Deno.test(gated(SWTPM, {
  name: "tpm slot: works under a scoped --allow-ffi (exact library paths only)",
  fn: async () => {
    await using tpm = await Swtpm.start();
    const paths = tss2FfiPaths({ libDir: LIB_DIR! });
    assert.deepEqual(paths.map((p) => p.slice(LIB_DIR!.length + 1)).sort(), [...TSS2_LIBS].sort());
    const probe = async (allowed: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--quiet",
          `--allow-ffi=${allowed.join(",")}`,
          PROBE,
          tpm.tcti,
          LIB_DIR!,
        ],
        env: { TSS2_LOG: "all+none", NO_COLOR: "1" },
        stdin: "null",
      }).output();
      assert.ok(out.success, `probe failed: ${new TextDecoder().decode(out.stderr)}`);
      return JSON.parse(new TextDecoder().decode(out.stdout).trim());
    };
    assert.deepEqual(await probe(paths), { unsafePointer: "denied", same: true });
    // One library short: the slot fails with a clear reason, not a crash.
    assert.deepEqual(await probe(paths.filter((p) => !p.endsWith("/libc.so.6"))), {
      unsafePointer: "denied",
      error: "tpm: cannot create the slot: --allow-ffi does not cover the TSS2 libraries",
    });
  },
}));

Deno.test(gated(SWTPM, {
  name: "tpm slot: the slot key never crosses the TPM bus in clear (salted, encrypted sessions)",
  fn: async () => {
    await using tpm = await Swtpm.start();
    await using relay = await RecordingRelay.start(tpm);
    const key = new TextEncoder().encode("CANARY-tpm-slot-key-0123456789ab");
    assert.equal(key.length, 32);
    await withTss2(async (tss2) => {
      const blobs = withContext(tss2, relay.tcti, (esys) => sealKey(esys, key, [7]));
      assert.deepEqual(withContext(tss2, relay.tcti, (esys) => unsealKey(esys, blobs, [7])), key);
      const wire = await relay.recorded();
      // The relay saw the exchange (the policy digest travels in clear in Create)...
      assert.ok(containsBytes(wire, readPublic(blobs.public)!.authPolicy));
      // ...but neither Create's sensitive data nor Unseal's output was in clear.
      assert.ok(!containsBytes(wire, key.subarray(0, 12)));
      assert.ok(!containsBytes(wire, key.subarray(20)));
    });
  },
}));

Deno.test(gated(SWTPM, {
  name: "tpm slot: a PCR extended between PolicyPCR and Unseal is a PCR policy failure",
  fn: async () => {
    await using tpm = await Swtpm.start();
    const key = randomBytes(32);
    await withTss2((tss2) => {
      const onTpm = <T>(fn: (esys: EsysContext) => T): T => withContext(tss2, tpm.tcti, fn);
      const blobs = onTpm((esys) => sealKey(esys, key, [7]));
      // The TPM's own answer: TPM_RC_PCR_CHANGED (RC_VER1 + 0x028), even for a
      // PCR outside the selection (any extend bumps the PCR update counter).
      onTpm((esys) => {
        const srk = esys.createPrimary(srkTemplate());
        const item = esys.load(srk, blobs.private, blobs.public);
        const session = esys.startSession(SESSION_TYPE.POLICY, srk);
        esys.policyPcr(session, pcrSelection([7]));
        extendSync(tpm, 8);
        assert.throws(() => esys.unseal(item, session), (e) => {
          assert.ok(e instanceof Tss2Error);
          assert.equal(e.rc, 0x128);
          assert.equal(tpmErrorNumber(e.rc), TPM_RC.PCR_CHANGED);
          return true;
        });
      });
      // The slot reports it as a PCR policy failure, not a generic TPM error.
      onTpm((esys) =>
        assert.throws(
          () => unsealKey(extendingBeforeUnseal(esys, tpm), blobs, [7]),
          failsWith(/^tpm: PCR policy check failed$/),
        )
      );
      // PCR 7 never changed: a fresh session still unseals.
      assert.deepEqual(onTpm((esys) => unsealKey(esys, blobs, [7])), key);
    });
  },
}));

Deno.test(gated(HAVE_LIBS, {
  name: "tpm ffi: unmarshal reports trailing bytes with their own error, never rc 0",
  fn: () =>
    withTss2((tss2) => {
      const fn = "Tss2_MU_TPML_PCR_SELECTION_Unmarshal";
      const ok = tss2.unmarshal(fn, pcrSelection([7]));
      assert.ok(ok.length > 0);
      assert.throws(() => tss2.unmarshal(fn, new Uint8Array([...pcrSelection([7]), 0])), (e) => {
        assert.ok(e instanceof Tss2WireError);
        assert.notEqual(e.rc, 0);
        assert.equal(tpmErrorNumber(e.rc), undefined, "not a TPM code");
        assert.match(e.message, /trailing bytes/);
        return true;
      });
      // A truncated structure is tpm2-tss's own MU error.
      assert.throws(() => tss2.unmarshal(fn, pcrSelection([7]).subarray(0, 5)), (e) => {
        assert.ok(e instanceof Tss2Error && !(e instanceof Tss2WireError));
        assert.notEqual(e.rc, 0);
        return true;
      });
    }),
}));

/** Extends PCR `index` synchronously (ESYS calls are synchronous, so the test must be too). */
function extendSync(tpm: Swtpm, index: number): void {
  const out = new Deno.Command("tpm2_pcrextend", {
    args: [`${index}:sha256=${toHex(randomBytes(32))}`],
    env: { TPM2TOOLS_TCTI: tpm.tcti, TSS2_LOG: "all+none" },
    stdin: "null",
  }).outputSync();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

/** `esys`, except that PCR 8 is extended right before Unseal (after PolicyPCR). */
function extendingBeforeUnseal(esys: EsysContext, tpm: Swtpm): EsysContext {
  const racing: Pick<
    EsysContext,
    "createPrimary" | "load" | "startSession" | "policyPcr" | "unseal"
  > = {
    createPrimary: (publicWire) => esys.createPrimary(publicWire),
    load: (parent, privateWire, publicWire) => esys.load(parent, privateWire, publicWire),
    startSession: (type, saltKey, attributes) => esys.startSession(type, saltKey, attributes),
    policyPcr: (session, selection) => esys.policyPcr(session, selection),
    unseal: (item, session) => {
      extendSync(tpm, 8);
      return esys.unseal(item, session);
    },
  };
  return racing as EsysContext;
}
