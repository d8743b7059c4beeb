# Basil as a Nix package (callPackage style):
#
#   basil = pkgs.callPackage ./nix/package.nix { };
#
# Layout of the output:
#   $out/share/basil/{cli.ts,main.ts,deno.json,deno.lock,lib,ffi}   the source
#   $out/share/basil/node_modules                                    npm deps
#   $out/bin/basil     wrapper: deno run <flags from deno.json> .../cli.ts "$@"
#
# Deno runs the TypeScript directly; nothing is compiled. The npm
# dependencies are fetched by a fixed-output derivation (network allowed,
# output pinned by a hash). The hash recorded below belongs to one deno.lock;
# when deno.lock changes it no longer applies and the build uses
# lib.fakeHash instead, so Nix fails and prints the right hash: record it
# (and the new lock's sha256) below, or pass `depsHash` directly.
{ lib
, stdenvNoCC
, deno
, makeWrapper
, glibc
, nghttp2
, cacert
, depsHash ? null
}:

let
  basilLib = import ./lib.nix;
  root = ../.;

  # Computed with Deno 2.9.6: `deno install --frozen --entrypoint cli.ts
  # main.ts` with an empty DENO_DIR, then `nix-hash --type sha256 --base32
  # node_modules` as SRI.
  recordedDeps = {
    lockSha256 = "f1ed70c81c9588565b2e9f084688b0047a521e04e5a9322fcb5d89cb577d873d";
    hash = "sha256-iQ7zDt5zTTcHM+fEUp1TxQodMzNoNRdgl4q+EqfxmZQ=";
  };
  effectiveDepsHash =
    if depsHash != null then depsHash
    else if builtins.hashFile "sha256" (root + "/deno.lock") == recordedDeps.lockSha256
    then recordedDeps.hash
    else lib.fakeHash;

  # The CLI's permission flags are defined once, in deno.json's `basil` task.
  denoJson = builtins.fromJSON (builtins.readFile (root + "/deno.json"));
  cliFlags = basilLib.denoRunFlags denoJson;

  version =
    let m = builtins.match ''.*export const VERSION = "([^"]+)".*''
      (builtins.readFile (root + "/lib/core/version.ts"));
    in if m == null then "0.0.0" else builtins.head m;

  # Only the runtime entries (nix/lib.nix `packageSources`): no tests, tools,
  # node_modules or .git in the source hash.
  src = builtins.path {
    path = root;
    name = "basil-source";
    filter = path: _type:
      let
        prefix = toString root + "/";
        rel = lib.removePrefix prefix (toString path);
        top = builtins.head (lib.splitString "/" rel);
      in
      builtins.elem top basilLib.packageSources;
  };

  # npm dependencies as Deno lays them out with `nodeModulesDir: "auto"`.
  # node_modules/.deno/.setup-cache.bin must be kept: without it Deno tries
  # to re-link the (read-only) tree at startup and fails.
  denoDeps = stdenvNoCC.mkDerivation {
    pname = "basil-deno-deps";
    inherit version src;
    nativeBuildInputs = [ deno ];
    dontConfigure = true;
    dontFixup = true; # no shebang patching: the output must not reference the store
    SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";
    buildPhase = ''
      runHook preBuild
      export HOME="$TMPDIR" DENO_DIR="$TMPDIR/deno-dir" DENO_NO_UPDATE_CHECK=1
      # Exactly the graphs the wrapper and the agent launcher run, pinned by deno.lock.
      deno install --frozen --entrypoint cli.ts main.ts
      runHook postBuild
    '';
    installPhase = ''
      runHook preInstall
      cp -r node_modules "$out"
      runHook postInstall
    '';
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = effectiveDepsHash;
  };

  out = placeholder "out";
  share = "${out}/share/basil";

  # What bin/basil execs `deno` with. --config pins the import map (the
  # caller's cwd is arbitrary); --cached-only forbids fetching anything at
  # run time (all modules are local or in node_modules). Everything else is
  # deno.json's task, verbatim.
  wrapperArgs = [ "run" "--cached-only" ] ++ cliFlags ++ [ "--config" "${share}/deno.json" "${share}/cli.ts" ];

  # The agent needs libc (SO_PEERCRED, execve) and libnghttp2 (its HTTP/2
  # engine) by exact path; on NixOS there is no /lib to search.
  wrapperEnv = {
    BASIL_LIBC = "${glibc}/lib/libc.so.6";
    BASIL_LIBNGHTTP2 = "${nghttp2.lib}/lib/libnghttp2.so.14";
  };
in
stdenvNoCC.mkDerivation {
  pname = "basil";
  inherit version src;

  nativeBuildInputs = [ makeWrapper ];
  dontConfigure = true;
  dontBuild = true;
  # node_modules must stay byte-identical to the pinned deps (Deno checks its
  # setup cache); the wrapper gets its interpreter from makeWrapper.
  dontPatchShebangs = true;

  installPhase = ''
    runHook preInstall
    mkdir -p "${share}" "$out/bin"
    cp -r ${lib.escapeShellArgs basilLib.packageSources} "${share}/"
    cp -r ${denoDeps} "${share}/node_modules"
    makeWrapper ${deno}/bin/deno "$out/bin/basil" \
      --add-flags ${lib.escapeShellArg (lib.escapeShellArgs wrapperArgs)} \
      --prefix PATH : ${lib.makeBinPath [ deno ]} \
      ${lib.concatStringsSep " " (lib.mapAttrsToList (k: v: "--set ${k} ${lib.escapeShellArg v}") wrapperEnv)} \
      --set-default DENO_NO_UPDATE_CHECK 1
    runHook postInstall
  '';

  # Exposed for tests and for other packaging (e.g. a non-wrapper launcher).
  passthru = { inherit denoDeps cliFlags wrapperArgs wrapperEnv recordedDeps; };

  meta = {
    description = "Host-local secrets broker (Deno/TypeScript)";
    mainProgram = "basil";
    platforms = lib.platforms.linux;
  };
}
