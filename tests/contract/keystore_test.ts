/** The backend contract suite against the embedded keystore. */

import { openKeystoreBackend } from "../../lib/backends/keystore/mod.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { backendContract } from "./backend_contract.ts";

backendContract("keystore", {
  kvPath: (n) => `app/${n}`,
  signing: ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048"],
  aead: ["aes-256-gcm", "chacha20-poly1305"],
  importTypes: ["ed25519", "ecdsa-p256"],
  pki: {
    path: (n) => `pki/issue/${n}`,
    prepare: (b, path) => b.pki!.createCa(path, "ecdsa-p256", { commonName: "contract CA" }),
  },
  prune: true,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-contract-ks-" });
  const dek = SecretBytes.copyOf(crypto.getRandomValues(new Uint8Array(32)));
  const backend = openKeystoreBackend({ name: "ks", dbPath: `${dir}/keystore.db`, dek });
  dek.wipe();
  return {
    backend,
    close: async () => {
      backend.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});
