# NixOS module `services.basil` (upstream contract §13).
#
#   imports = [ ./basil/nix/module.nix ];
#   services.basil = {
#     enable = true;
#     catalog = { ... };     # Nix mirror of catalog JSON (§2)
#     policy = { ... };      # Nix mirror of policy JSON (§3), plus unixSubjects
#     bundle = "/var/lib/basil/bundle.sealed";
#     settings = { ... };    # camelCase mirror of the agent TOML (§1)
#   };
#
# Generates /etc/basil/catalog.json, /etc/basil/policy.json and
# /etc/basil/basil-agent.toml (store symlinks) and a hardened `basil-agent`
# unit. The conversions themselves live in ./lib.nix (builtins only) so they
# can be tested without nixpkgs; this file only declares options and wires
# the results into NixOS.
#
# The migration guide spells the attribute `service.basil` (singular); that
# spelling is accepted as an alias (see `options.service.basil` below).
{ config, lib, pkgs, options, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge types literalExpression;

  basilLib = import ./lib.nix;
  cfg = config.services.basil;
  s = cfg.settings;

  keyTypes = [
    "ed25519" "ed25519-nkey" "rsa-2048" "ecdsa-p256" "ecdsa-p384" "ecdsa-p521"
    "aes-256-gcm" "chacha20-poly1305" "x25519" "ml-kem-512" "ml-kem-768" "ml-kem-1024"
    "ml-dsa-44" "ml-dsa-65" "ml-dsa-87"
  ];
  engines = [ "transit" "kv2" "pki" ];

  # Small constructors to keep the long option list readable.
  opt = type: default: description: mkOption { inherit type default description; };
  nullOpt = type: description: opt (types.nullOr type) null description;
  required = type: description: mkOption { inherit type description; };
  # Paths of secrets are strings, never `types.path`: a Nix path literal
  # (./bundle.sealed) would be copied into the world-readable store.
  filePath = types.str;

  # ------------------------------------------------------------- catalog

  backendOptions = {
    implementation = nullOpt (types.either types.str (types.attrsOf types.anything)) ''
      A preset from nix/backend-capabilities.nix (the attrset, or its name such
      as "OPENBAO_2_5"), spread into kind/engines/capabilities/mintKeyTypes.
      Explicitly set fields win over the preset.
    '';
    kind = nullOpt (types.enum [ "vault" "keystore" "aws-kms" "gcp-kms" ]) "Backend kind.";
    addr = opt types.str "" ''
      Vault/OpenBao URL, or the DB file path of a db-keystore; ignored for KMS
      and 1Password.
    '';
    engines = nullOpt (types.listOf (types.enum engines)) "Engines the backend provides.";
    capabilities = nullOpt (types.listOf types.str) "Declared capabilities.";
    mintKeyTypes = nullOpt (types.listOf (types.enum keyTypes)) "Mintable transit key types.";
    requires = opt (types.listOf types.str) [ ] "Capabilities required beyond the derived ones.";
  };

  keyOptions = {
    class = required (types.enum [ "asymmetric" "symmetric" "value" "public" "sealing" ]) "Key class.";
    keyType = nullOpt (types.enum keyTypes) "Key type (required for asymmetric/symmetric/sealing).";
    backend = required types.str "Name of a declared backend.";
    engine = nullOpt (types.enum engines) "Engine (default from the class).";
    path = required types.str "Transit key name, KV path incl. mount, or pki*/issue/<role>.";
    publicPath = nullOpt types.str "Public half's KV path (materialize-to-use keys only).";
    writable = required types.bool "Hard cap on write ops (set/rotate/import/new_key).";
    missing = nullOpt (types.enum [ "error" "warn" "generate" ]) "Reconcile policy when absent.";
    generate = nullOpt (types.attrsOf types.anything) ''
      Generation recipe, tagged by `format`, e.g. { format = "ascii-printable"; bytes = 24; }.
    '';
    sealingPin = nullOpt (types.attrsOf types.anything) ''
      Sealing keys only: { parties = { partyU; partyV; }; externalAad = [ ... ]; }.
      (Not in upstream's Nix module; the agent's loader accepts it.)
    '';
    labels = opt (types.listOf types.str) [ ] ''Labels, "name=value" or bare slugs.'';
    description = nullOpt types.str ''
      Human description (required by the catalog loader; defaults to a neutral
      text naming the key, since the migration guide's examples omit it).
    '';
  };

  catalogOptions = {
    schemaVersion = opt (types.enum [ 1 ]) 1 "Catalog schema version.";
    backends = opt (types.attrsOf (types.submodule { options = backendOptions; })) { } "Backends.";
    keys = opt (types.attrsOf (types.submodule { options = keyOptions; })) { } ''
      Keys by dotted lowercase name ("app.db_password").
    '';
  };

  # -------------------------------------------------------------- policy

  policyOptions = {
    schemaVersion = opt (types.enum [ 2 ]) 2 "Policy schema version.";
    subjects = opt (types.attrsOf (types.attrsOf types.anything)) { } ''
      Subjects in the JSON form: { breakGlass?; allOf | anyOf = [ principal ]; }.
    '';
    unixSubjects = opt
      (types.attrsOf (types.submodule {
        options = {
          user = nullOpt (types.either types.str types.ints.unsigned) "User name or uid.";
          group = nullOpt (types.either types.str types.ints.unsigned) "Group name or gid.";
          breakGlass = opt types.bool false "May be granted match-all targets.";
        };
      }))
      { }
      ''
        Subjects named by exactly one unix user or group. Passed through to
        policy.json unchanged; the agent resolves the names against
        /etc/passwd and /etc/group at every (re)load, so users without a fixed
        uid work. Names must be declared in users.users / users.groups (or be
        numeric ids).
      '';
    unauthenticatedSubject = nullOpt types.str "Subject for callers without peer credentials.";
    roles = opt (types.attrsOf (types.listOf types.str)) { } "Roles: name -> op tokens.";
    rules = opt
      (types.listOf (types.submodule {
        options = {
          id = required types.str "Unique rule id.";
          subjects = required (types.listOf types.str) "Subjects the rule applies to.";
          action = required (types.listOf types.str) ''"role:<name>", "op:<op>" or "*".'';
          target = required (types.listOf types.str) "Target globs over key names.";
          comment = nullOpt types.str "Free text.";
        };
      }))
      [ ]
      "Rules, first match wins.";
    config = opt (types.attrsOf types.anything) { } ''
      { names = { users; groups; }; memberships; } as in policy JSON.
    '';
  };

  # ------------------------------------------------------------ settings

  sub = options: default: mkOption {
    type = types.submodule { inherit options; };
    inherit default;
    description = "See the sub-options.";
  };

  settingsOptions = {
    package = mkOption {
      type = types.package;
      default = pkgs.basil or (pkgs.callPackage ./package.nix { });
      defaultText = literalExpression "pkgs.basil or (pkgs.callPackage ./package.nix { })";
      description = "The basil package (its bin/basil runs the CLI and the agent).";
    };
    user = opt types.str "basil" "User the agent runs as.";
    group = opt types.str "basil" "Group the agent runs as.";
    createUser = opt types.bool true "Create the user and group.";
    uid = nullOpt types.int "Fixed uid of the created user.";
    gid = nullOpt types.int "Fixed gid of the created group.";
    stateDirectory = opt types.str "basil" "Name of the state directory under /var/lib (mode 0700).";
    socket = opt types.str "/run/basil/basil.sock" ''
      Listen path. The default lives in the unit's RuntimeDirectory; never
      point it at /tmp (the unit has PrivateTmp, so nobody could connect).
    '';
    socketMode = opt types.str "0600" ''Socket mode, an octal string ("0660" with socketGroup).'';
    socketGroup = nullOpt (types.either types.str types.ints.unsigned) ''
      Group the socket is chowned to. The agent's user joins it automatically
      when it is a name other than `group`.
    '';
    vaultAddr = nullOpt types.str "Default Vault/OpenBao address.";
    transitMount = nullOpt types.str "Transit mount (agent default: transit).";
    jwtAuthMount = nullOpt types.str "JWT auth mount for SpiffeSigner logins (default: jwt).";
    jwtRole = nullOpt types.str "JWT role (required with SpiffeSigner credentials).";
    jwtAudience = nullOpt types.str "JWT audience (default: openbao).";
    svidTtlSecs = opt types.ints.positive 300 "SVID TTL in seconds.";
    auditLog = nullOpt filePath "JSONL audit log path (e.g. /var/lib/basil/audit.jsonl).";
    maxEncryptSize = nullOpt types.ints.positive "Cap for encrypt/decrypt-style payloads (default 1 MiB).";
    maxPayloadSize = nullOpt types.ints.positive "Cap for other payloads (default 1 MiB).";
    graceVersions = opt types.ints.unsigned 1 "Older versions still usable after a rotate.";
    retainVersions = nullOpt types.ints.positive "Versions kept by the retention sweep (unset: all).";
    retentionSweepSecs = opt types.ints.unsigned 3600 "Retention sweep interval (0 disables).";
    noReconcile = opt types.bool false "Skip the startup existence reconcile.";
    capabilityPolicy = opt (types.enum [ "strict" "degraded" "off" ]) "strict" "Capability check mode.";
    keystore = sub
      {
        dbKeystoreCipher = nullOpt types.str "db-keystore cipher (default aegis256).";
        onepasswordProviderUri = nullOpt types.str "Default 1Password provider URI.";
        onepasswordProject = nullOpt types.str "Default 1Password project.";
        onepasswordProfile = nullOpt types.str "Default 1Password profile.";
      }
      { };
    unlock = sub
      {
        ageYubikey = opt types.bool false "Enable the age-yubikey slot.";
        unlockTpm = opt types.bool false ''
          Enable the TPM slot. The unit then gets /dev/tpmrm0 (and only it)
          and joins the `tss` group; enable security.tpm2 as well.
        '';
        bip39PhraseFile = nullOpt filePath "24-word phrase file (always wiped after reading).";
        diskPassphraseFile = nullOpt filePath ''
          Passphrase file (TOML `unlock-passphrase-file`); wiped after reading
          unless unlockPassphraseNoWipe.
        '';
        unlockPassphraseNoWipe = opt types.bool false "Keep the passphrase file after reading.";
        strictBundlePerms = opt types.bool true "Refuse to start unless the bundle is mode 0600.";
      }
      { };
    brokerIdentity = sub
      {
        id = nullOpt types.str "basil://host/path identity (with responseSigningKeyId).";
        responseSigningKeyId = nullOpt types.str "Catalog key signing responses.";
      }
      { };
    invocation = sub
      {
        enable = opt types.bool false "Enable sealed invocations.";
        audience = opt (types.listOf types.str) [ ] "Accepted basil:// audiences.";
        requestEncryptionKeyId = nullOpt types.str "Catalog sealing key for requests.";
        maxTtlSecs = opt types.ints.positive 60 "Maximum request TTL (<= 300).";
        clockSkewSecs = opt types.ints.unsigned 30 "Allowed clock skew (<= 300).";
        replayCacheCapacity = opt types.ints.positive 4096 "Replay cache entries.";
      }
      { };
    jwks = sub
      {
        enable = opt types.bool false "Serve JWKS over HTTP (opens IP sockets).";
        listen = opt types.str "127.0.0.1:8201" "host:port.";
        issuer = nullOpt types.str "Absolute http(s) issuer URL.";
        tls = sub
          {
            enable = opt types.bool false "Serve JWKS over TLS.";
            certFile = nullOpt filePath "PEM certificate chain.";
            keyFile = nullOpt filePath "PEM private key.";
          }
          { };
      }
      { };
    environment = opt (types.attrsOf types.str) { } "Extra environment for the agent unit.";
    allowNetwork = nullOpt types.bool ''
      Whether the agent may open IP sockets. Default (null): only when a
      backend other than a local db-keystore file, 1Password or JWKS is
      configured. Without network the unit gets PrivateNetwork and
      RestrictAddressFamilies=AF_UNIX.
    '';
    extraConfig = opt (types.attrsOf types.anything) { } ''
      Raw kebab-case TOML entries merged over the generated document (e.g.
      { logging.level = "debug"; }). The agent rejects unknown keys.
    '';
  };

  # --------------------------------------------------------- generated files

  # The agent reads its config once, at start; SIGHUP hot-reloads the
  # catalog and policy from the same paths (and reopens the audit log). So a
  # catalog or policy content change reloads the unit (reloadTriggers, below:
  # no restart, the unlock passphrase is not needed again), and a config
  # change restarts it (restartTriggers). A reload that changes the
  # catalog's routing shape (backends, key set, key paths, ...) is rejected
  # by the agent, logged and audited; apply such a change with
  # `systemctl restart basil-agent`.
  # The TOML names the stable /etc paths rather than store paths so that the
  # reload re-reads the new files and operators can point `basil explain -c
  # /etc/basil/basil-agent.toml` at what the running agent loaded;
  # switch-to-configuration updates /etc before it reloads or restarts units.
  catalogFile = pkgs.writeText "basil-catalog.json" (builtins.toJSON (basilLib.catalogDoc cfg.catalog));
  policyFile = pkgs.writeText "basil-policy.json" (builtins.toJSON (basilLib.policyDoc cfg.policy));
  agentToml = basilLib.toTOML (basilLib.agentConfig {
    inherit (cfg) bundle;
    settings = s;
    catalogPath = "/etc/basil/catalog.json";
    policyPath = "/etc/basil/policy.json";
  });
  tomlFile = pkgs.writeText "basil-agent.toml" agentToml;

  network = basilLib.needsNetwork cfg;
  supplementaryGroups =
    lib.optional (builtins.isString s.socketGroup && s.socketGroup != s.group) s.socketGroup
    ++ lib.optional s.unlock.unlockTpm "tss";
in
{
  options.services.basil = {
    enable = mkEnableOption "the Basil secrets broker agent";
    catalog = opt (types.submodule { options = catalogOptions; }) { } "Catalog (§2), as Nix.";
    policy = opt (types.submodule { options = policyOptions; }) { } "Policy (§3), as Nix.";
    bundle = nullOpt filePath ''
      Sealed bundle path (create it with `basil bundle create`; mode 0600,
      outside the Nix store).
    '';
    settings = opt (types.submodule { options = settingsOptions; }) { } "Agent settings (§1).";
  };

  # Alias for the migration guide's spelling. Definitions are forwarded as
  # definitions (like nixpkgs' mkRenamedOptionModule does), so they merge
  # with services.basil per option: lists concatenate, attrsets combine.
  # No default: `isDefined` must mean "the user wrote service.basil".
  options.service.basil = mkOption {
    type = types.attrs;
    visible = false;
    description = "Alias of services.basil (the spelling used in the migration guide).";
  };

  config = mkMerge [
    {
      services.basil = lib.mkAliasDefinitions options.service.basil;
      warnings = lib.optional options.service.basil.isDefined
        "The option `service.basil' is an alias; write `services.basil' instead.";
    }

    (mkIf cfg.enable {
      assertions = basilLib.checks {
        inherit cfg;
        users = builtins.attrNames config.users.users;
        groups = builtins.attrNames config.users.groups;
      };

      users.users = mkIf s.createUser {
        ${s.user} = {
          isSystemUser = true;
          inherit (s) group uid;
          description = "Basil secrets broker";
        };
      };
      users.groups = mkIf s.createUser { ${s.group} = { inherit (s) gid; }; };

      environment.etc = {
        "basil/catalog.json".source = catalogFile;
        "basil/policy.json".source = policyFile;
        # For operators, e.g. `basil explain -c /etc/basil/basil-agent.toml ...`.
        "basil/basil-agent.toml".source = tomlFile;
      };
      environment.systemPackages = [ s.package ];
      # Clients (`basil get ...`) find a non-default socket without flags.
      environment.variables.BASIL_SOCKET = s.socket;

      systemd.services.basil-agent = {
        description = "Basil secrets broker";
        wantedBy = [ "multi-user.target" ];
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        # A catalog or policy content change reloads the agent (SIGHUP: hot
        # reload); a config change restarts it (read only at start).
        reloadTriggers = [ catalogFile policyFile ];
        restartTriggers = [ tomlFile ];
        environment = {
          # Deno's transpile cache; the source tree itself is read-only.
          DENO_DIR = "/var/cache/basil";
          DENO_NO_UPDATE_CHECK = "1";
        } // s.environment;
        serviceConfig = basilLib.hardening { inherit network; tpm = s.unlock.unlockTpm; } // {
          Type = "simple";
          User = s.user;
          Group = s.group;
          SupplementaryGroups = supplementaryGroups;
          # The CLI derives the agent's Deno permissions from the config and
          # replaces itself (execve) with the agent (main.ts): MainPID is the agent.
          ExecStart = "${s.package}/bin/basil agent --config ${tomlFile}";
          # `systemctl reload` (reloadTriggers, or logrotate's postrotate)
          # makes the agent reopen its audit log and hot-reload the catalog
          # and policy; `basil reload` does the same over the socket.
          ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
          # SIGTERM goes to the agent (MainPID); stragglers get SIGKILL after
          # the timeout.
          KillMode = "mixed";
          Restart = "on-failure";
          RestartSec = "5s";
          RuntimeDirectory = "basil";
          # Clients in the socket's group must traverse /run/basil.
          RuntimeDirectoryMode = if s.socketGroup == s.group then "0750" else "0755";
          StateDirectory = s.stateDirectory;
          StateDirectoryMode = "0700";
          CacheDirectory = "basil";
          CacheDirectoryMode = "0700";
          # ProtectSystem=strict makes everything else read-only. Each entry
          # is a directory the agent writes into (lib/sandbox/permissions.ts
          # grants the agent exactly these files, nothing else in them):
          # - /run/basil: the socket (created at start, removed at stop);
          # - the state directory: by default the bundle's directory (its
          #   `<bundle>.epoch` sidecar is replaced via `<bundle>.epoch.tmp` and
          #   a rename), the audit log's (created, appended, reopened after
          #   logrotate) and the local keystore's (SQLite also writes -wal,
          #   -shm and -journal files next to the DB);
          # - "-"-prefixed extras, only for such files configured elsewhere:
          #   the bundle's, audit log's, keystore DB's or socket's directory,
          #   and that of each unlock file the agent wipes (zeroes and unlinks)
          #   after reading. See readWritePaths in ./lib.nix.
          # DENO_DIR (/var/cache/basil) is writable as the CacheDirectory.
          ReadWritePaths = basilLib.readWritePaths cfg;
        };
      };
    })
  ];
}
