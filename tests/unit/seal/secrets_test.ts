/**
 * Canary secrets never appear in an error message, a log line, or the
 * rendering of decoded credentials.
 * @module
 */

import assert from "node:assert/strict";
import { utf8 } from "../../../lib/core/encoding.ts";
import { SecretBytes } from "../../../lib/core/secret.ts";
import { parseBackendSpec } from "../../../lib/seal/backend_spec.ts";
import { createBundle, openBundle } from "../../../lib/seal/bundle.ts";
import type { BackendCred } from "../../../lib/seal/creds.ts";
import { decodePayload } from "../../../lib/seal/payload.ts";
import { unlockBundle } from "../../../lib/seal/unlock.ts";
import {
  CANARY,
  CANARY_DEK,
  FAST,
  passMethod,
  RecordingLogger,
  tempDir,
  writeFile,
} from "./helpers.ts";

const CANARIES = [...Object.values(CANARY), new TextDecoder().decode(CANARY_DEK)];

function clean(text: string, where: string): void {
  for (const c of CANARIES) assert.ok(!text.includes(c), `${where} leaked a canary: ${text}`);
}

async function messageOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  throw new Error("expected a failure");
}

Deno.test("secrets: no failure path quotes a canary", async () => {
  const dir = await tempDir();
  const tok644 = writeFile(dir, "tok644", CANARY.token, 0o644);
  const dek644 = writeFile(dir, "dek644", CANARY_DEK, 0o644);
  const tok = writeFile(dir, "tok", CANARY.token);
  const dekShort = writeFile(dir, "dekshort", CANARY.dekText);
  const bin = writeFile(dir, "bin", new Uint8Array([...utf8(CANARY.token), 0xff]));
  const specs = [
    `id=b,type=openbao,token=${CANARY.token}`,
    `id=b,type=openbao,token-file=${tok},secret-id=${CANARY.secretId}`,
    `id=b,type=${CANARY.token}`,
    `id=b,type=openbao,token-file=${tok644}`,
    `id=b,type=openbao,token-file=${tok},addr=${CANARY.token}`,
    `id=b,type=openbao,token-file=${tok},addr=https://u:${CANARY.passphrase}@h:x`,
    `id=db,type=db-keystore,path=/x,dek-file=${dek644}`,
    `id=db,type=db-keystore,path=/x,dek-file=${dekShort}`,
    `id=b,type=openbao,role-id=r,secret-id-file=${bin}`,
    `id=b,type=openbao,${CANARY.token}`,
  ];
  for (const s of specs) clean(await messageOf(() => parseBackendSpec(s)), "backend spec");

  const payloads = [
    `{"schema_version":2,"backends":{"b":{"VaultToken":{"token":"${CANARY.token}","x":1}}}}`,
    `{"schema_version":2,"backends":{"b":{"VaultToken":{"token":"${CANARY.token}`,
    `{"schema_version":2,"backends":{"b":{"DbKeystoreDek":{"dek":"${CANARY.token}"}}}}`,
    `{"schema_version":9,"backends":{"b":{"VaultToken":{"token":"${CANARY.token}"}}}}`,
  ];
  for (const p of payloads) clean(await messageOf(() => decodePayload(utf8(p), "/b")), "payload");
});

Deno.test("secrets: unlock errors, logs and decoded creds never show a canary", async () => {
  const dir = await tempDir();
  const file = await createBundle({
    slots: [{ method: passMethod(CANARY.passphrase), label: "passphrase" }],
    backends: new Map<string, BackendCred>([
      ["bao", { type: "VaultToken", token: new SecretBytes(utf8(CANARY.token)) }],
      ["db", { type: "DbKeystoreDek", dek: SecretBytes.copyOf(CANARY_DEK) }],
      ["gcp", {
        type: "GcpKms",
        project: "p",
        location: "l",
        key_ring: "r",
        service_account_json: new SecretBytes(utf8(CANARY.sa)),
      }],
    ]),
    argon2: FAST,
  });
  clean(new TextDecoder().decode(file), "bundle file");
  const bundle = writeFile(dir, "b.sealed", file, 0o644);
  const logger = new RecordingLogger();
  // Wrong passphrase whose text is itself a canary.
  const wrong = writeFile(dir, "wrong", `${CANARY.secretId}\n`);
  const unlock = {
    passphraseFile: wrong,
    passphraseNoWipe: true,
    ageYubikey: false,
    unlockTpm: false,
    strictBundlePerms: false,
  };
  clean(await messageOf(() => unlockBundle({ bundlePath: bundle, unlock, logger })), "unlock");
  const right = writeFile(dir, "right", CANARY.passphrase);
  const creds = await unlockBundle({
    bundlePath: bundle,
    unlock: { ...unlock, passphraseFile: right },
    logger,
  });
  clean(Deno.inspect(creds, { depth: 10 }), "inspect(creds)");
  clean(JSON.stringify([...creds]), "JSON(creds)");
  clean(String(creds.get("bao")), "String(cred)");
  clean(logger.text(), "logs");
  const opened = await openBundle(file, "/b", [passMethod(CANARY.passphrase)], logger);
  clean(Deno.inspect(opened, { depth: 10 }), "inspect(opened)");
  clean(logger.text(), "logs");
});
