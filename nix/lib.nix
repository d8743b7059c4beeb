# The pure half of Basil's Nix packaging: everything that turns the module's
# option values into files, paths and unit settings. Only `builtins` are used
# (no nixpkgs `lib`), so every function here can be evaluated offline with
#
#   nix-instantiate --eval --strict --json -E '(import ./nix/lib.nix).toTOML { a = 1; }'
#
# which is how tests/e2e/packaging_test.ts checks it. module.nix and
# package.nix are thin wrappers around these functions.
let
  inherit (builtins)
    all any attrNames concatLists concatMap concatStringsSep elem filter foldl' head
    isAttrs isBool isInt isList isPath isString listToAttrs mapAttrs
    match split stringLength substring toJSON typeOf;

  presets = import ./backend-capabilities.nix;

  # ---------------------------------------------------------------- helpers

  filterAttrs = pred: set:
    listToAttrs (concatMap
      (n: if pred n set.${n} then [{ name = n; value = set.${n}; }] else [ ])
      (attrNames set));

  # Drops null-valued attributes at every depth (nulls mean "agent default").
  # Derivations (attrsets with outPath) are kept whole.
  stripNulls = v:
    if isAttrs v && !(v ? outPath) then
      mapAttrs (_: stripNulls) (filterAttrs (_: x: x != null) v)
    else if isList v then map stripNulls v
    else v;

  # Attribute-wise recursive merge; the right side wins on leaves.
  recursiveUpdate = l: r:
    l // mapAttrs
      (n: rv: if isAttrs rv && isAttrs (l.${n} or null) then recursiveUpdate l.${n} rv else rv)
      r;

  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];

  hasPrefix = p: s: substring 0 (stringLength p) s == p;

  # Parent directory of an absolute path, as a string ("/a/b" -> "/a").
  parentDir = p:
    let m = match "(.*)/[^/]+/*" (toString p);
    in if m == null || head m == "" then "/" else head m;

  isAbsolute = p: isString p && hasPrefix "/" p;

  # ------------------------------------------------- deno.json -> CLI flags

  # The CLI's permission flags are defined once, in deno.json's `basil` task
  # ("deno run <flags> cli.ts"); the package wrapper reuses them verbatim.
  # Anything else in that task is a packaging bug, so fail evaluation loudly.
  denoRunFlags = denoJson:
    let
      task = denoJson.tasks.basil or (throw "deno.json: tasks.basil is missing");
      m = match "deno run (.+) cli\\.ts" task;
      flags = if m == null then [ ] else filter (s: isString s && s != "") (split " +" (head m));
    in
    if m == null then throw "deno.json: tasks.basil is not `deno run <flags> cli.ts`: ${task}"
    else if !(all (hasPrefix "--") flags) then
      throw "deno.json: tasks.basil has a non-flag argument before cli.ts: ${task}"
    else flags;

  # Top-level entries of the checkout the runtime needs (cli.ts, the agent's
  # main.ts, their imports, the import map and lockfile). package.nix copies
  # exactly these; the packaging test runs the CLI from a read-only copy of
  # exactly these, so a missing entry fails the test, not a user's boot.
  packageSources = [ "cli.ts" "main.ts" "deno.json" "deno.lock" "lib" "ffi" ];

  # ------------------------------------------------------------------ TOML

  tomlKey = k: if match "[A-Za-z0-9_-]+" k != null then k else toJSON k;

  # JSON string escapes (\" \\ \n \t \uXXXX) are valid TOML basic-string escapes.
  tomlValue = v:
    if isString v then toJSON v
    else if isAttrs v && v ? outPath then toJSON "${v}"
    else if isPath v then toJSON (toString v)
    else if isBool v then (if v then "true" else "false")
    else if isInt v then toString v
    else if isList v then (if v == [ ] then "[]" else "[ ${concatStringsSep ", " (map tomlValue v)} ]")
    else throw "toTOML: cannot render a ${typeOf v}";

  isTable = v: isAttrs v && !(v ? outPath);

  renderTable = path: t:
    let
      names = attrNames t;
      scalars = filter (n: !isTable t.${n}) names;
      tables = filter (n: isTable t.${n}) names;
      header = if path == [ ] then "" else "\n[${concatStringsSep "." (map tomlKey path)}]\n";
      body = concatStringsSep "" (map (n: "${tomlKey n} = ${tomlValue t.${n}}\n") scalars);
    in
    header + body + concatStringsSep "" (map (n: renderTable (path ++ [ n ]) t.${n}) tables);

  # Attrset -> TOML text. Nulls are dropped (the agent's default applies);
  # nested attrsets become [tables]; lists of tables are not needed here.
  toTOML = doc: renderTable [ ] (stripNulls doc);

  # ------------------------------------------------- agent config (§1 TOML)

  defaultJwksListen = "127.0.0.1:8201";

  # The module's camelCase `settings` -> the agent's kebab-case TOML document.
  # Every key is spelled out (no automatic case conversion) so the mapping is
  # auditable; the packaging test feeds the result to the real config loader,
  # which rejects unknown keys. `or null` lets callers pass partial settings.
  agentConfig = { settings ? { }, bundle, catalogPath, policyPath }:
    let
      s = settings;
      ks = s.keystore or { };
      u = s.unlock or { };
      bi = s.brokerIdentity or { };
      inv = s.invocation or { };
      j = s.jwks or { };
      tls = j.tls or { };
      on = x: x == true;
    in
    recursiveUpdate
      (stripNulls {
        catalog = catalogPath;
        policy = policyPath;
        inherit bundle;
        socket = s.socket or null;
        socket-mode = s.socketMode or null;
        socket-group = s.socketGroup or null;
        vault-addr = s.vaultAddr or null;
        transit-mount = s.transitMount or null;
        jwt-auth-mount = s.jwtAuthMount or null;
        jwt-role = s.jwtRole or null;
        jwt-audience = s.jwtAudience or null;
        svid-ttl-secs = s.svidTtlSecs or null;
        capability-policy = s.capabilityPolicy or null;
        db-keystore-cipher = ks.dbKeystoreCipher or null;
        onepassword-provider-uri = ks.onepasswordProviderUri or null;
        onepassword-project = ks.onepasswordProject or null;
        onepassword-profile = ks.onepasswordProfile or null;
        max-encrypt-size = s.maxEncryptSize or null;
        max-payload-size = s.maxPayloadSize or null;
        grace-versions = s.graceVersions or null;
        retain-versions = s.retainVersions or null;
        retention-sweep-secs = s.retentionSweepSecs or null;
        audit-log = s.auditLog or null;
        no-reconcile = s.noReconcile or null;
        unlock = {
          age-yubikey = u.ageYubikey or null;
          unlock-tpm = u.unlockTpm or null;
          bip39-phrase-file = u.bip39PhraseFile or null;
          # Upstream's Nix name for the passphrase file.
          unlock-passphrase-file = u.diskPassphraseFile or null;
          unlock-passphrase-no-wipe = u.unlockPassphraseNoWipe or null;
          strict-bundle-perms = u.strictBundlePerms or null;
        };
        # "Both or neither" (§1); a half-set pair is an assertion failure.
        broker-identity =
          if (bi.id or null) != null && (bi.responseSigningKeyId or null) != null
          then { inherit (bi) id; response-signing-key-id = bi.responseSigningKeyId; }
          else null;
        # Left out when neither enabled nor configured (the agent's defaults
        # apply); written when configured, so the agent validates it.
        invocation =
          if on (inv.enable or false) || (inv.audience or [ ]) != [ ]
            || (inv.requestEncryptionKeyId or null) != null
          then {
            enable = on (inv.enable or false);
            audience = inv.audience or [ ];
            request-encryption-key-id = inv.requestEncryptionKeyId or null;
            max-ttl-secs = inv.maxTtlSecs or null;
            clock-skew-secs = inv.clockSkewSecs or null;
            replay-cache-capacity = inv.replayCacheCapacity or null;
          } else null;
        # [jwks] is also written when disabled but configured: the agent
        # validates listen/issuer/tls even then (§1), so mistakes surface now.
        jwks =
          if on (j.enable or false) || (j.issuer or null) != null || on (tls.enable or false)
            || (j.listen or defaultJwksListen) != defaultJwksListen
          then {
            enable = on (j.enable or false);
            listen = j.listen or null;
            issuer = j.issuer or null;
            tls =
              if on (tls.enable or false)
              then { enable = true; cert-file = tls.certFile or null; key-file = tls.keyFile or null; }
              else null;
          } else null;
      })
      (s.extraConfig or { });

  # ------------------------------------------------------ catalog (§2 JSON)

  resolvePreset = i:
    if i == null then { }
    else if isString i then presets.${i} or (throw "basil: unknown backend implementation preset `${i}'")
    else i;

  # Nix backend -> catalog backend: the `implementation` preset is spread into
  # kind/engines/capabilities/mintKeyTypes; explicitly set fields win.
  backendDoc = _name: b:
    let
      impl = resolvePreset (b.implementation or null);
      pick = f: if (b.${f} or null) != null then b.${f} else impl.${f} or null;
      requires = b.requires or [ ];
    in
    stripNulls {
      kind = pick "kind";
      addr = b.addr or "";
      engines = pick "engines";
      capabilities = pick "capabilities";
      mintKeyTypes = pick "mintKeyTypes";
      requires = if requires == [ ] then null else requires;
    };

  keyDoc = name: k:
    let labels = k.labels or [ ];
    in
    stripNulls {
      class = k.class or null;
      keyType = k.keyType or null;
      backend = k.backend or null;
      engine = k.engine or null;
      path = k.path or null;
      publicPath = k.publicPath or null;
      writable = k.writable or null;
      missing = k.missing or null;
      generate = k.generate or null;
      sealingPin = k.sealingPin or null;
      labels = if labels == [ ] then null else labels;
      # The loader requires a non-blank description; the migration guide's
      # examples omit it, so a Nix-declared key gets a neutral one.
      description =
        if (k.description or null) == null || k.description == ""
        then "${name} (declared in the NixOS configuration)"
        else k.description;
    };

  catalogDoc = catalog: {
    schemaVersion = catalog.schemaVersion or 1;
    backends = mapAttrs backendDoc (catalog.backends or { });
    keys = mapAttrs keyDoc (catalog.keys or { });
  };

  # -------------------------------------------------------- policy (§3 JSON)

  # `unixSubjects` are passed through unchanged: the agent resolves user and
  # group names against /etc/passwd and /etc/group when it loads the policy,
  # at start (a policy change restarts the unit). Resolving them here would
  # need uids at evaluation time, which NixOS only knows for users with a
  # fixed `uid`.
  policyDoc = policy:
    let
      nonEmpty = v: if v == { } || v == [ ] then null else v;
      unixSubject = _: u: stripNulls {
        user = u.user or null;
        group = u.group or null;
        breakGlass = if u.breakGlass or false then true else null;
      };
    in
    stripNulls {
      schemaVersion = policy.schemaVersion or 2;
      subjects = stripNulls (policy.subjects or { });
      unixSubjects = nonEmpty (mapAttrs unixSubject (policy.unixSubjects or { }));
      unauthenticatedSubject = policy.unauthenticatedSubject or null;
      roles = policy.roles or { };
      rules = map
        (r: stripNulls {
          inherit (r) id subjects action target;
          comment = r.comment or null;
        })
        (policy.rules or [ ]);
      config = nonEmpty (stripNulls (policy.config or { }));
    };

  # ------------------------------------------------------------ assertions

  # Pure checks over the module's values; module.nix feeds them to NixOS
  # `assertions`. `users`/`groups` are the names declared in users.users and
  # users.groups (unixSubjects must name one of them, or a numeric id).
  checks = { cfg, users ? [ ], groups ? [ ] }:
    let
      s = cfg.settings or { };
      policy = cfg.policy or { };
      catalog = catalogDoc (cfg.catalog or { });
      subjects = attrNames (policy.subjects or { });
      unixSubjects = policy.unixSubjects or { };
      declared = subjects ++ attrNames unixSubjects;
      bi = s.brokerIdentity or { };
      inv = s.invocation or { };
      tls = (s.jwks or { }).tls or { };
      set = x: x != null;
      forAll = xs: f: map f xs;
      unixChecks = concatLists (map
        (n:
          let
            u = unixSubjects.${n};
            user = u.user or null;
            group = u.group or null;
          in
          [
            {
              assertion = (user != null) != (group != null);
              message = "services.basil.policy.unixSubjects.${n}: set exactly one of `user' or `group'.";
            }
            {
              assertion = user == null || isInt user || elem user users;
              message = "services.basil.policy.unixSubjects.${n}.user = \"${toString user}\" is not declared in users.users (use a numeric uid for users managed outside NixOS).";
            }
            {
              assertion = group == null || isInt group || elem group groups;
              message = "services.basil.policy.unixSubjects.${n}.group = \"${toString group}\" is not declared in users.groups (use a numeric gid for groups managed outside NixOS).";
            }
            {
              assertion = !(elem n subjects);
              message = "services.basil.policy: subject name `${n}' is declared in both `subjects' and `unixSubjects'.";
            }
          ])
        (attrNames unixSubjects));
    in
    [
      {
        assertion = set (cfg.bundle or null);
        message = "services.basil.bundle must be set to the sealed bundle's path (create it with `basil bundle create`).";
      }
      {
        assertion = !(hasPrefix "/nix/store" (toString (cfg.bundle or "")));
        message = "services.basil.bundle must not be in the Nix store (it is world-readable); keep it under /var/lib/basil, mode 0600.";
      }
      {
        assertion = isAbsolute (toString (cfg.bundle or "/"));
        message = "services.basil.bundle must be an absolute path.";
      }
      {
        assertion = set (s.package or null);
        message = "services.basil.settings.package must be set.";
      }
      {
        assertion = (s.user or "basil") != "root";
        message = "services.basil.settings.user must not be root: run the broker as a dedicated user.";
      }
      {
        assertion = stringLength (s.socket or "") <= 107;
        message = "services.basil.settings.socket is longer than the 107-byte unix socket path limit.";
      }
      {
        assertion = set (bi.id or null) == set (bi.responseSigningKeyId or null);
        message = "services.basil.settings.brokerIdentity: set both `id' and `responseSigningKeyId', or neither.";
      }
      {
        assertion = !(inv.enable or false)
          || ((inv.audience or [ ]) != [ ] && set (bi.id or null) && set (inv.requestEncryptionKeyId or null));
        message = "services.basil.settings.invocation.enable needs a non-empty `audience', settings.brokerIdentity, and `requestEncryptionKeyId'.";
      }
      {
        assertion = !(tls.enable or false) || (set (tls.certFile or null) && set (tls.keyFile or null));
        message = "services.basil.settings.jwks.tls.enable needs `certFile' and `keyFile'.";
      }
    ]
    # Secret files, like the bundle, never in the world-readable store (a
    # "${./pass}" string would put them there; the agent could not wipe them either).
    ++ forAll
      [
        { name = "unlock.bip39PhraseFile"; path = (s.unlock or { }).bip39PhraseFile or null; }
        { name = "unlock.diskPassphraseFile"; path = (s.unlock or { }).diskPassphraseFile or null; }
        { name = "jwks.tls.keyFile"; path = tls.keyFile or null; }
      ]
      (f: {
        assertion = !(hasPrefix "/nix/store" (toString (if f.path == null then "" else f.path)));
        message = "services.basil.settings.${f.name} must not be in the Nix store (it is world-readable); keep the secret outside it, mode 0600.";
      })
    ++ unixChecks
    ++ forAll (attrNames catalog.backends) (n: {
      assertion = catalog.backends.${n} ? kind;
      message = "services.basil.catalog.backends.${n}: set `implementation' (a preset from nix/backend-capabilities.nix) or `kind'.";
    })
    ++ forAll (attrNames catalog.keys) (n: {
      assertion = catalog.backends ? ${catalog.keys.${n}.backend or ""};
      message = "services.basil.catalog.keys.\"${n}\".backend names no declared backend.";
    })
    ++ concatLists (map
      (r: forAll r.subjects (sub: {
        assertion = elem sub declared;
        message = "services.basil.policy.rules (id `${r.id}'): unknown subject `${sub}'.";
      }))
      (policy.rules or [ ]));

  # ------------------------------------------------------ unit composition

  # Whether the agent needs IP sockets: any backend other than a local
  # db-keystore file (vault, KMS, 1Password), or JWKS. `settings.allowNetwork`
  # (true/false) overrides the guess.
  needsNetwork = cfg:
    let
      s = cfg.settings or { };
      backends = builtins.attrValues (catalogDoc (cfg.catalog or { })).backends;
      remote = b: (b.kind or "vault") != "keystore" || !(isAbsolute (b.addr or ""));
      guess = any remote backends
        || ((s.jwks or { }).enable or false)
        || ((s.keystore or { }).onepasswordProviderUri or null) != null;
    in
    if (s.allowNetwork or null) != null then s.allowNetwork else guess;

  # The unit's ReadWritePaths (ProtectSystem=strict makes everything else
  # read-only). Each is a directory because the agent creates, renames or
  # unlinks files in it; its Deno sandbox (lib/sandbox/permissions.ts) still
  # limits writes to the exact files below:
  # - /run/basil (RuntimeDirectory): the socket, bound at start and removed
  #   at stop;
  # - /var/lib/<stateDirectory> (StateDirectory): where the bundle, the audit
  #   log and a local keystore normally live;
  # - the bundle's directory: the `<bundle>.epoch` sidecar is written as
  #   `<bundle>.epoch.tmp` and renamed over (the bundle itself is only read);
  # - the audit log's: opened for append (created 0600), reopened on SIGHUP
  #   after logrotate moved it;
  # - each local keystore DB's: SQLite writes -wal/-shm/-journal next to it;
  # - each unlock secret file's the agent wipes (zeroes, then unlinks) after
  #   reading: the BIP39 phrase always, the passphrase unless no-wipe;
  # - the socket's, when it is outside /run/basil.
  # Directories already covered are not repeated; the extras get a "-"
  # prefix, which tells systemd to skip a missing path rather than fail.
  readWritePaths = cfg:
    let
      s = cfg.settings or { };
      u = s.unlock or { };
      stateDir = "/var/lib/${s.stateDirectory or "basil"}";
      managed = [ "/run/basil" stateDir ];
      backends = builtins.attrValues (catalogDoc (cfg.catalog or { })).backends;
      keystoreDirs = map (b: parentDir b.addr)
        (filter (b: (b.kind or "") == "keystore" && isAbsolute (b.addr or "")) backends);
      wiped = if u.unlockPassphraseNoWipe or false then [ u.bip39PhraseFile or null ]
        else [ (u.bip39PhraseFile or null) (u.diskPassphraseFile or null) ];
      files = filter isAbsolute ([ (cfg.bundle or null) (s.auditLog or null) (s.socket or null) ] ++ wiped);
      # Never "/" (a file directly under / must not open the whole tree).
      extra = filter (d: !(elem d managed) && d != "/") (unique (map parentDir files ++ keystoreDirs));
    in
    managed ++ map (d: "-${d}") extra;

  # The sandbox shared by the NixOS unit and nix/basil-agent.service. Values
  # are what NixOS serviceConfig takes (bool, string, list = repeated line).
  hardening = { network ? true, tpm ? false }:
    stripNulls {
      UMask = "0077";
      NoNewPrivileges = true;
      PrivateTmp = true;
      ProtectSystem = "strict";
      ProtectHome = true;
      # No capabilities at all: the agent binds a unix socket in its own
      # runtime dir and chowns it to a group its user belongs to.
      CapabilityBoundingSet = "";
      AmbientCapabilities = "";
      RestrictAddressFamilies = [ "AF_UNIX" ] ++ (if network then [ "AF_INET" "AF_INET6" ] else [ ]);
      # Without a network backend there is no reason to see the host's
      # network at all. Path-bound unix sockets still work across network
      # namespaces, and SO_PEERCRED is unaffected.
      PrivateNetwork = !network;
      IPAddressDeny = if network then null else "any";
      # The TPM slot needs exactly one device node (resource-managed).
      PrivateDevices = !tpm;
      DevicePolicy = "closed";
      DeviceAllow = if tpm then [ "/dev/tpmrm0 rw" ] else null;
      ProtectKernelTunables = true;
      ProtectKernelModules = true;
      ProtectKernelLogs = true;
      ProtectControlGroups = true;
      ProtectClock = true;
      ProtectHostname = true;
      ProtectProc = "invisible";
      RestrictNamespaces = true;
      RestrictSUIDSGID = true;
      LockPersonality = true;
      RestrictRealtime = true;
      RemoveIPC = true;
      PrivateIPC = true;
      PrivateMounts = true;
      SystemCallArchitectures = "native";
      # @pkey: V8 probes memory protection keys; allowing them keeps the
      # JIT's own W^X protection instead of an EPERM fallback.
      SystemCallFilter = [ "@system-service" "@pkey" ];
      # Deny (EPERM) rather than kill on a filtered call, so an unexpected
      # runtime probe degrades instead of crashing the broker.
      SystemCallErrorNumber = "EPERM";
      LimitCORE = 0;
      KeyringMode = "private";
      # Deliberately NOT set:
      # - MemoryDenyWriteExecute: breaks V8's JIT (Deno would crash).
      # - PrivateUsers: peers outside the user namespace would show up as
      #   the overflow uid in SO_PEERCRED, breaking caller identity.
      # - ProcSubset=pid: untested with Deno/V8 reading /proc.
    };
in
{
  inherit presets stripNulls recursiveUpdate parentDir denoRunFlags packageSources toTOML
    agentConfig catalogDoc policyDoc checks needsNetwork readWritePaths hardening;
}
