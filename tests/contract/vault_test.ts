/**
 * The backend contract suite against the vault backend: the faithful double
 * by default, a real OpenBao/Vault when BASIL_TEST_VAULT_ADDR and
 * BASIL_TEST_VAULT_TOKEN are set (transit at `transit/`, KV v2 at
 * `secret/`, a PKI role `pki/issue/basil`; see the README).
 */

import { openVaultBackend } from "../../lib/backends/vault/mod.ts";
import { nullLogger } from "../../lib/core/log.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { startConfiguredDouble } from "../fakes/vault/server.ts";
import { backendContract } from "./backend_contract.ts";

const realAddr = Deno.env.get("BASIL_TEST_VAULT_ADDR");
const realToken = Deno.env.get("BASIL_TEST_VAULT_TOKEN");

backendContract(realAddr ? "vault (real server)" : "vault (double)", {
  kvPath: (n) => `secret/data/basil-contract/${n}`,
  signing: ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048"],
  aead: ["aes-256-gcm", "chacha20-poly1305"],
  importTypes: ["ed25519", "ecdsa-p256"],
  pki: { path: () => "pki/issue/basil" },
  prune: true,
}, async () => {
  const d = realAddr && realToken ? undefined : await startConfiguredDouble();
  const token = SecretBytes.copyOf(new TextEncoder().encode(d?.rootToken ?? realToken!));
  const backend = await openVaultBackend({
    name: "bao",
    addr: d?.addr ?? realAddr!,
    cred: { type: "VaultToken", token },
    transitMount: "transit",
    jwt: { mount: "jwt", role: "", audience: "openbao", ttlSecs: 300 },
    graceVersions: 1,
    logger: nullLogger,
  });
  token.wipe();
  return {
    backend,
    close: async () => {
      backend.close();
      await d?.close();
    },
  };
});
