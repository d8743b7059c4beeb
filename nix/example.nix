# The sops-nix -> Basil migration example from the guide, as a NixOS module.
#
#   imports = [ ./basil/nix/example.nix ];
#
# Tier 1 brokers a value (the app's DB password); Tier 2 brokers an
# operation (signing with a key that never leaves OpenBao). They are two
# modules on purpose: definitions of the same option from several modules
# merge (the rule lists concatenate), as in the guide's separate snippets.
#
# The guide spells the attribute `service.basil`; this module accepts that
# spelling as an alias, but `services.basil` is the option's real name.
{ config, ... }:

let
  basil = "${config.services.basil.settings.package}/bin/basil";

  tier1 = {
    services.basil = {
      enable = true;
      catalog = {
        schemaVersion = 1;
        backends.bao = {
          implementation = (import ./backend-capabilities.nix).OPENBAO_2_5;
          addr = "https://127.0.0.1:8200";
        };
        keys."app.db_password" = {
          class = "value";
          backend = "bao";
          engine = "kv2";
          path = "secret/data/app/db-password";
          writable = true;
          missing = "generate";
          generate = { format = "ascii-printable"; bytes = 24; };
        };
      };
      policy = {
        unixSubjects.svc-app = { user = "app"; };
        rules = [
          {
            id = "app-can-read-its-password";
            subjects = [ "svc-app" ];
            action = [ "op:get" ];
            target = [ "app.db_password" ];
            comment = "The app service may fetch only its own database password.";
          }
        ];
      };
      bundle = "/var/lib/basil/bundle.sealed";
      settings = {
        socket = "/run/basil/basil.sock";
        socketMode = "0660";
        socketGroup = "basil";
        vaultAddr = "https://127.0.0.1:8200";
        auditLog = "/var/lib/basil/audit.jsonl";
      };
    };

    users.users.app = { isSystemUser = true; group = "app"; };
    users.groups.app = { };

    systemd.services.app = {
      serviceConfig = {
        User = "app";
        Group = "app";
        # Lets the app reach the 0660 socket (group basil) in /run/basil.
        SupplementaryGroups = [ "basil" ];
        RuntimeDirectory = "app";
      };
      # Compatibility step: the app keeps reading a runtime file, but the
      # value comes from the broker (policy-gated, audited) on each start.
      preStart = ''
        ${basil} --socket /run/basil/basil.sock \
          get --key-id app.db_password --format raw \
          > "$RUNTIME_DIRECTORY/db_password"
      '';
    };
  };

  tier2 = {
    services.basil.catalog.keys."app.tls.signing_key" = {
      class = "asymmetric";
      keyType = "ed25519";
      backend = "bao";
      engine = "transit";
      path = "app-tls";
      writable = true;
      missing = "generate";
    };
    services.basil.policy.roles.signer = [ "sign" "verify" "get_public_key" ];
    services.basil.policy.rules = [
      {
        id = "app-can-sign";
        subjects = [ "svc-app" ];
        action = [ "role:signer" ];
        target = [ "app.tls.signing_key" ];
      }
    ];
  };
in
{
  imports = [ ./module.nix tier1 tier2 ];
}
