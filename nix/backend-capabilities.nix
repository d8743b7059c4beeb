# Backend capability presets (upstream contract §2.2).
#
# A catalog backend written in Nix may say
#
#   backends.bao = {
#     implementation = (import ./nix/backend-capabilities.nix).OPENBAO_2_5;
#     addr = "https://127.0.0.1:8200";
#   };
#
# and the module spreads the preset into the backend's JSON fields `kind`,
# `engines`, `capabilities` and `mintKeyTypes` (an explicitly set field wins
# over the preset). `implementation` itself never reaches catalog.json: the
# catalog loader rejects unknown fields.
#
# These are static declarations of what a backend product provides; the
# agent's capability check (§2.5) compares them with what the keys need.
# Plain data, no nixpkgs: importable from anywhere, evaluable offline.
let
  # Vault 2.0 and OpenBao 2.5 offer the same transit/KV/PKI surface.
  vaultFamily = {
    kind = "vault";
    engines = [ "transit" "kv2" "pki" ];
    capabilities = [ "byok-import" "prehash-sign" "pki-crl" "jwt-auth" "approle-auth" ];
    mintKeyTypes = [ "ed25519" "ed25519-nkey" "rsa-2048" "ecdsa-p256" "ecdsa-p384" "ecdsa-p521" ];
  };
in
{
  VAULT_2_0 = vaultFamily;

  OPENBAO_2_5 = vaultFamily;

  # Enterprise Vault adds post-quantum transit keys.
  VAULT_2_0_ENT = vaultFamily // {
    capabilities = vaultFamily.capabilities ++ [ "pqc-transit" ];
  };

  # Local encrypted DB (db-keystore) or 1Password: `addr` is the DB file path.
  KEYSTORE = {
    kind = "keystore";
    engines = [ "transit" "kv2" ];
    capabilities = [ ];
    mintKeyTypes = [ "ed25519" ];
  };

  # KMS backends use ambient credentials; `addr` is ignored (may be "").
  AWS_KMS = {
    kind = "aws-kms";
    engines = [ "transit" ];
    capabilities = [ ];
    mintKeyTypes = [ "ecdsa-p256" "ecdsa-p384" "ecdsa-p521" ];
  };

  GCP_KMS = {
    kind = "gcp-kms";
    engines = [ "transit" ];
    capabilities = [ ];
    mintKeyTypes = [ "ed25519" "ecdsa-p256" "ecdsa-p384" ];
  };
}
