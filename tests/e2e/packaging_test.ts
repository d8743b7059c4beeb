/**
 * Packaging: the NixOS module (nix/module.nix), the Nix package
 * (nix/package.nix), the backend presets and the standalone systemd unit,
 * checked with real tools:
 * - nix-instantiate parses every .nix file and evaluates the module against
 *   a small stub of nixpkgs' module system (tests/fixtures/packaging/eval.nix),
 *   since there is no nixpkgs offline;
 * - the real `basil` CLI loads the generated TOML, catalog and policy
 *   (`explain`), and runs from a read-only copy of the package layout;
 * - systemd-analyze verifies both units and scores their sandbox.
 * Every check has a negative twin, so a check that cannot fail is caught.
 */

import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { VERSION } from "../../lib/core/version.ts";
import { basil, BASIL_FLAGS, ROOT } from "../helpers/cli.ts";
import { IS_ROOT, needs } from "../helpers/peers.ts";

const NIX_DIR = `${ROOT}/nix`;
const FIX = `${ROOT}/tests/fixtures/packaging`;
/** Silences "group 'nixbld' does not exist" (no build users here). */
const NIX_ENV = { NIX_CONFIG: "build-users-group =" };
/** The highest acceptable `systemd-analyze security` exposure. */
const MAX_EXPOSURE = 2.5;

// ----------------------------------------------------------------- helpers

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: readonly string[],
  o: { env?: Record<string, string>; cwd?: string } = {},
): Promise<RunResult> {
  const out = await new Deno.Command(cmd, {
    args: [...args],
    env: o.env,
    cwd: o.cwd ?? ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A Nix path literal for an absolute path (safe for any characters but `${`). */
function nixPath(p: string): string {
  return `(/. + ${JSON.stringify(p)})`;
}

async function nixEval<T>(expr: string): Promise<T> {
  const r = await run("nix-instantiate", ["--eval", "--strict", "--json", "-E", expr], {
    env: NIX_ENV,
  });
  if (r.code !== 0) throw new Error(`nix-instantiate failed (${r.code}):\n${r.stderr}\n${expr}`);
  return JSON.parse(r.stdout) as T;
}

/** Evaluates `expr`, which must fail; returns stderr. */
async function nixEvalError(expr: string): Promise<string> {
  const r = await run("nix-instantiate", ["--eval", "--strict", "--json", "-E", expr], {
    env: NIX_ENV,
  });
  assert.notEqual(r.code, 0, `expected evaluation to fail, got ${r.stdout}`);
  return r.stderr;
}

const LIB = `(import ${nixPath(`${NIX_DIR}/lib.nix`)})`;

/** The evaluated module, as eval.nix exposes it. */
interface ModuleResult {
  files: { toml: string | null; catalog: string | null; policy: string | null };
  failedAssertions: string[];
  warnings: string[];
  unit: string | null;
  serviceConfig: Record<string, unknown> | null;
  users: Record<string, Record<string, unknown>>;
  groups: Record<string, Record<string, unknown>>;
  etcSources: Record<string, string>;
}

/** Nix source of a module list: absolute paths or inline Nix expressions. */
function modulesExpr(modules: readonly string[]): string {
  return `[ ${modules.map((m) => (m.startsWith("/") ? nixPath(m) : `(${m})`)).join(" ")} ]`;
}

function evalModules<K extends keyof ModuleResult>(
  modules: readonly string[],
  fields: readonly K[],
): Promise<Pick<ModuleResult, K>> {
  const evalNix = nixPath(`${FIX}/eval.nix`);
  return nixEval(
    `let r = import ${evalNix} { modules = ${modulesExpr(modules)}; }; ` +
      `in { inherit (r) ${fields.join(" ")}; }`,
  );
}

const MODULE = `${NIX_DIR}/module.nix`;
const EXAMPLE = `${NIX_DIR}/example.nix`;
const MINIMAL = `${FIX}/minimal.nix`;
const FULL = `${FIX}/full-settings.nix`;

function parseJson(text: string | null): unknown {
  assert.ok(text !== null, "file not generated");
  return JSON.parse(text);
}

/** Dotted key paths of every scalar/array in a TOML document. */
function tomlKeys(doc: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(doc).flatMap(([k, v]) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? tomlKeys(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`]
  ).sort();
}

/** A unit file's `[Service]` section as key -> values (repeated lines kept in order). */
function serviceSection(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let inService = false;
  for (const raw of unit.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) {
      inService = line === "[Service]";
      continue;
    }
    if (!inService) continue;
    const eq = line.indexOf("=");
    const k = line.slice(0, eq);
    out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** NixOS serviceConfig value -> unit file values (as nixpkgs renders them). */
function unitValues(v: unknown): string[] {
  const one = (x: unknown) => (x === true ? "true" : x === false ? "false" : String(x));
  return Array.isArray(v) ? v.map(one) : [one(v)];
}

async function withTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "basil-packaging-" });
  try {
    return await f(dir);
  } finally {
    // Trees made read-only by a test must be writable again to be removed
    // (no chmod on PATH means no test made anything read-only).
    await run("chmod", ["-R", "u+w", dir]).catch(() => undefined);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `unit` as basil-agent.service with ExecStart pointing at a stub executable. */
async function stageUnit(dir: string, unit: string, name = "basil-agent.service"): Promise<string> {
  const stub = `${dir}/basil-stub`;
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const staged = unit.replace(/^ExecStart=\S+/m, `ExecStart=${stub}`);
  assert.match(staged, new RegExp(`^ExecStart=${stub} agent --config \\S+$`, "m"));
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, staged);
  return path;
}

const UNKNOWN_DIRECTIVE = /Unknown (key|section|lvalue)|Failed to parse|[Ii]gnoring/;

async function verifyUnit(path: string): Promise<RunResult> {
  return await run("systemd-analyze", ["verify", path]);
}

async function exposure(path: string): Promise<number> {
  const r = await run("systemd-analyze", ["security", "--offline=yes", path]);
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout + r.stderr);
  assert.ok(m, `no exposure score in output (code ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return Number(m[1]);
}

// ------------------------------------------------------------------- tests

Deno.test({
  name: "nix: every .nix file parses, and a broken copy does not",
  ...needs("nix-instantiate"),
  fn: async () => {
    const files: string[] = [];
    for (const dir of [NIX_DIR, FIX]) {
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile && e.name.endsWith(".nix")) files.push(`${dir}/${e.name}`);
      }
    }
    for (const f of ["backend-capabilities", "lib", "module", "package", "example"]) {
      assert.ok(files.includes(`${NIX_DIR}/${f}.nix`), `nix/${f}.nix missing`);
    }
    for (const f of files) {
      const r = await run("nix-instantiate", ["--parse", f], { env: NIX_ENV });
      assert.equal(r.code, 0, `${f} does not parse:\n${r.stderr}`);
    }
    await withTempDir(async (dir) => {
      const text = await Deno.readTextFile(`${NIX_DIR}/module.nix`);
      const broken = `${dir}/module.nix`;
      await Deno.writeTextFile(broken, text.slice(0, text.lastIndexOf("}")));
      const r = await run("nix-instantiate", ["--parse", broken], { env: NIX_ENV });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /syntax error/);
    });
  },
});

Deno.test({
  name: "nix: backend presets are the contract's (§2.2)",
  ...needs("nix-instantiate"),
  fn: async () => {
    const presets = await nixEval<Record<string, unknown>>(
      `import ${nixPath(`${NIX_DIR}/backend-capabilities.nix`)}`,
    );
    const vault = {
      kind: "vault",
      engines: ["transit", "kv2", "pki"],
      capabilities: ["byok-import", "prehash-sign", "pki-crl", "jwt-auth", "approle-auth"],
      mintKeyTypes: [
        "ed25519",
        "ed25519-nkey",
        "rsa-2048",
        "ecdsa-p256",
        "ecdsa-p384",
        "ecdsa-p521",
      ],
    };
    assert.deepEqual(presets, {
      VAULT_2_0: vault,
      OPENBAO_2_5: vault,
      VAULT_2_0_ENT: { ...vault, capabilities: [...vault.capabilities, "pqc-transit"] },
      KEYSTORE: {
        kind: "keystore",
        engines: ["transit", "kv2"],
        capabilities: [],
        mintKeyTypes: ["ed25519"],
      },
      AWS_KMS: {
        kind: "aws-kms",
        engines: ["transit"],
        capabilities: [],
        mintKeyTypes: ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521"],
      },
      GCP_KMS: {
        kind: "gcp-kms",
        engines: ["transit"],
        capabilities: [],
        mintKeyTypes: ["ed25519", "ecdsa-p256", "ecdsa-p384"],
      },
    });
  },
});

Deno.test({
  name: "package: bin/basil runs `deno run` with exactly deno.json's basil task flags",
  ...needs("nix-instantiate"),
  fn: async () => {
    const flags = await nixEval<string[]>(
      `${LIB}.denoRunFlags (builtins.fromJSON (builtins.readFile ${nixPath(`${ROOT}/deno.json`)}))`,
    );
    assert.deepEqual(flags, BASIL_FLAGS);

    // package.nix itself, through callPackage with stub inputs.
    const evalNix = nixPath(`${FIX}/eval.nix`);
    const pkg = await nixEval<{
      placeholder: string;
      version: string;
      wrapperArgs: string[];
      wrapperEnv: Record<string, string>;
      installPhase: string;
      depsBuild: string;
      depsHashMode: string;
      depsHash: string;
      recordedHash: string;
      recordedLock: string;
    }>(
      `let p = (import ${evalNix} { modules = ${modulesExpr([MINIMAL, MODULE])}; }).package; in {
        placeholder = builtins.placeholder "out";
        inherit (p) version installPhase;
        inherit (p.passthru) wrapperArgs wrapperEnv;
        depsBuild = p.passthru.denoDeps.buildPhase;
        depsHashMode = p.passthru.denoDeps.outputHashMode;
        depsHash = p.passthru.denoDeps.outputHash;
        recordedHash = p.passthru.recordedDeps.hash;
        recordedLock = p.passthru.recordedDeps.lockSha256;
      }`,
    );
    const share = `${pkg.placeholder}/share/basil`;
    assert.deepEqual(pkg.wrapperArgs, [
      "run",
      "--cached-only",
      ...BASIL_FLAGS,
      "--config",
      `${share}/deno.json`,
      `${share}/cli.ts`,
    ]);
    assert.match(
      pkg.wrapperEnv.BASIL_LIBC ?? "",
      /^\/nix\/store\/\w+-glibc-[^/]+\/lib\/libc\.so\.6$/,
    );
    assert.match(
      pkg.wrapperEnv.BASIL_LIBNGHTTP2 ?? "",
      /^\/nix\/store\/\w+-nghttp2-[^/]+-lib\/lib\/libnghttp2\.so\.14$/,
    );
    assert.equal(pkg.version, VERSION);
    assert.match(
      pkg.installPhase,
      /makeWrapper \/nix\/store\/\w+-deno-[^/]+\/bin\/deno "\$out\/bin\/basil"/,
    );
    assert.match(pkg.installPhase, /--prefix PATH : \/nix\/store\/\w+-deno-[^/]+\/bin/);
    assert.match(pkg.installPhase, /--set BASIL_LIBC /);
    assert.match(pkg.installPhase, /--set BASIL_LIBNGHTTP2 /);
    const runFlag = BASIL_FLAGS.find((f) => f.startsWith("--allow-run="))!;
    assert.ok(pkg.installPhase.includes(`'${runFlag}'`), pkg.installPhase);
    assert.match(pkg.depsBuild, /deno install --frozen --entrypoint cli\.ts main\.ts/);
    assert.equal(pkg.depsHashMode, "recursive");
    // The recorded npm-deps hash must belong to the current deno.lock, or
    // the package falls back to a fake hash and does not build.
    const lock = await Deno.readFile(`${ROOT}/deno.lock`);
    const lockSha = [...new Uint8Array(await crypto.subtle.digest("SHA-256", lock))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(
      pkg.recordedLock,
      lockSha,
      "deno.lock changed: in nix/package.nix set recordedDeps.lockSha256 to the new lock's " +
        "sha256 and recordedDeps.hash to the SRI form of `nix-hash --type sha256 --base32 " +
        "node_modules` after `deno install --frozen --entrypoint cli.ts main.ts` (or the " +
        "hash a Nix build reports)",
    );
    assert.equal(pkg.depsHash, pkg.recordedHash);

    // The extraction refuses a task it cannot represent faithfully.
    const bad = (task: string) =>
      nixEvalError(`${LIB}.denoRunFlags { tasks.basil = ${JSON.stringify(task)}; }`);
    assert.match(
      await bad("deno run -A main.ts"),
      /tasks\.basil is not `deno run <flags> cli\.ts`/,
    );
    assert.match(await bad("deno run --allow-read extra.ts cli.ts"), /non-flag argument/);
    assert.match(
      await nixEvalError(`${LIB}.denoRunFlags { tasks = { }; }`),
      /tasks\.basil is missing/,
    );
  },
});

Deno.test({
  name:
    "package: the wrapper's command runs CLI and agent code from a read-only copy of the layout",
  // As root, run as nobody: root ignores file modes, and the basil user is
  // not root either (the real store is also mounted read-only).
  ...needs("nix-instantiate", "cp", "find", "touch", "chmod", ...(IS_ROOT ? ["setpriv"] : [])),
  fn: async () => {
    const evalNix = nixPath(`${FIX}/eval.nix`);
    const pkg = await nixEval<{ placeholder: string; sources: string[]; wrapperArgs: string[] }>(
      `let p = (import ${evalNix} { modules = ${modulesExpr([MINIMAL, MODULE])}; }).package; in {
        placeholder = builtins.placeholder "out";
        sources = ${LIB}.packageSources;
        inherit (p.passthru) wrapperArgs;
      }`,
    );
    try {
      await Deno.stat(`${ROOT}/node_modules/.deno/.setup-cache.bin`);
    } catch {
      throw new Error("node_modules is not installed; run `deno install --frozen` first");
    }
    await withTempDir(async (dir) => {
      // $out/share/basil as package.nix lays it out: the listed sources plus
      // node_modules, every mtime 1 and read-only, like the Nix store.
      const out = `${dir}/out`;
      const share = `${out}/share/basil`;
      await Deno.mkdir(share, { recursive: true });
      const cp = await run("cp", ["-a", ...pkg.sources, `${ROOT}/node_modules`, share]);
      assert.equal(cp.code, 0, cp.stderr);
      await run("find", [out, "-exec", "touch", "-h", "-d", "@1", "{}", "+"]);
      await run("chmod", ["-R", "a-w", out]);
      // An empty DENO_DIR the user cannot write (like an app user's
      // /var/empty home): nothing may come from a warm global cache, and
      // Deno must cope without a transpile cache.
      await Deno.mkdir(`${dir}/deno-dir`, { mode: 0o755 });
      await Deno.chmod(dir, 0o755);
      const env = {
        DENO_DIR: `${dir}/deno-dir`,
        HOME: "/nonexistent",
        NO_COLOR: "1",
        PATH: Deno.env.get("PATH") ?? "",
      };
      const deno = (args: string[]) =>
        IS_ROOT
          ? run("setpriv", [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            Deno.execPath(),
            ...args,
          ], { env, cwd: dir })
          : run(Deno.execPath(), args, { env, cwd: dir });
      const args = pkg.wrapperArgs.map((a) => a.replaceAll(pkg.placeholder, out));

      const version = await deno([...args, "--version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout.trim(), VERSION);

      const agent = await deno([
        "run",
        "--quiet",
        "--cached-only",
        "--no-prompt",
        "--allow-env",
        "--config",
        `${share}/deno.json`,
        `${share}/main.ts`,
      ]);
      assert.notEqual(agent.code, 0);
      assert.doesNotMatch(agent.stderr, /Module not found|Cannot (find|resolve)|not a dependency/i);
      assert.match(agent.stderr, /needs --libc/);

      // Nothing in the store copy may have been written to.
      const touched = await run("find", [out, "-newermt", "@2"]);
      assert.equal(touched.stdout, "", `files written in the read-only tree:\n${touched.stdout}`);
    });
  },
});

Deno.test({
  name: "package: a path-scoped read permission works through NixOS's /etc symlinks",
  ...needs("deno"),
  fn: async () => {
    // The generated TOML names /etc/basil/catalog.json, which NixOS makes a
    // symlink to /etc/static/..., itself a symlink into the store; the agent
    // is granted --allow-read for the /etc path only.
    await withTempDir(async (dir) => {
      for (const d of ["etc/basil", "etc/static/basil", "store"]) {
        await Deno.mkdir(`${dir}/${d}`, { recursive: true });
      }
      await Deno.writeTextFile(`${dir}/store/catalog.json`, '{"schemaVersion":1}');
      await Deno.symlink(`${dir}/store/catalog.json`, `${dir}/etc/static/basil/catalog.json`);
      await Deno.symlink(`${dir}/etc/static/basil/catalog.json`, `${dir}/etc/basil/catalog.json`);
      const link = `${dir}/etc/basil/catalog.json`;
      const code = `console.log(Deno.readTextFileSync(${JSON.stringify(link)}))`;
      const script = `${dir}/read.ts`;
      await Deno.writeTextFile(script, code);
      const ok = await run(Deno.execPath(), ["run", "--no-prompt", `--allow-read=${link}`, script]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.trim(), '{"schemaVersion":1}');
      // Negative twin: without the grant it is refused.
      const denied = await run(Deno.execPath(), [
        "run",
        "--no-prompt",
        `--allow-read=${dir}/etc/x`,
        script,
      ]);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /NotCapable|Requires read access/);
    });
  },
});

/** What nix/example.nix (the guide's migration example) must generate. */
const EXAMPLE_CATALOG = {
  schemaVersion: 1,
  backends: {
    bao: {
      kind: "vault",
      addr: "https://127.0.0.1:8200",
      engines: ["transit", "kv2", "pki"],
      capabilities: ["byok-import", "prehash-sign", "pki-crl", "jwt-auth", "approle-auth"],
      mintKeyTypes: [
        "ed25519",
        "ed25519-nkey",
        "rsa-2048",
        "ecdsa-p256",
        "ecdsa-p384",
        "ecdsa-p521",
      ],
    },
  },
  keys: {
    "app.db_password": {
      class: "value",
      backend: "bao",
      engine: "kv2",
      path: "secret/data/app/db-password",
      writable: true,
      missing: "generate",
      generate: { format: "ascii-printable", bytes: 24 },
      description: "app.db_password (declared in the NixOS configuration)",
    },
    "app.tls.signing_key": {
      class: "asymmetric",
      keyType: "ed25519",
      backend: "bao",
      engine: "transit",
      path: "app-tls",
      writable: true,
      missing: "generate",
      description: "app.tls.signing_key (declared in the NixOS configuration)",
    },
  },
};

const EXAMPLE_POLICY = {
  schemaVersion: 2,
  subjects: {},
  unixSubjects: { "svc-app": { user: "app" } },
  roles: { signer: ["sign", "verify", "get_public_key"] },
  rules: [
    {
      id: "app-can-read-its-password",
      subjects: ["svc-app"],
      action: ["op:get"],
      target: ["app.db_password"],
      comment: "The app service may fetch only its own database password.",
    },
    {
      id: "app-can-sign",
      subjects: ["svc-app"],
      action: ["role:signer"],
      target: ["app.tls.signing_key"],
    },
  ],
};

Deno.test({
  name: "module: the migration example generates the expected TOML, catalog, policy and unit",
  ...needs("nix-instantiate"),
  fn: async () => {
    const r = await evalModules([EXAMPLE], [
      "files",
      "failedAssertions",
      "warnings",
      "serviceConfig",
      "users",
      "groups",
      "etcSources",
    ]);
    assert.deepEqual(r.failedAssertions, []);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(parseJson(r.files.catalog), EXAMPLE_CATALOG);
    assert.deepEqual(parseJson(r.files.policy), EXAMPLE_POLICY);

    assert.ok(r.files.toml !== null);
    // (JSON round trip: smol-toml returns null-prototype objects.)
    assert.deepEqual(JSON.parse(JSON.stringify(parseToml(r.files.toml))), {
      catalog: "/etc/basil/catalog.json",
      policy: "/etc/basil/policy.json",
      bundle: "/var/lib/basil/bundle.sealed",
      socket: "/run/basil/basil.sock",
      "socket-mode": "0660",
      "socket-group": "basil",
      "vault-addr": "https://127.0.0.1:8200",
      "audit-log": "/var/lib/basil/audit.jsonl",
      "svid-ttl-secs": 300,
      "capability-policy": "strict",
      "grace-versions": 1,
      "retention-sweep-secs": 3600,
      "no-reconcile": false,
      unlock: {
        "age-yubikey": false,
        "unlock-tpm": false,
        "unlock-passphrase-no-wipe": false,
        "strict-bundle-perms": true,
      },
    });

    // /etc/basil/* are store files; the agent config names the stable /etc
    // paths (a content change restarts the unit: see the restartTriggers test).
    for (const f of ["catalog.json", "policy.json", "basil-agent.toml"]) {
      assert.match(r.etcSources[`basil/${f}`] ?? "", /^\/nix\/store\/\w+-basil-/);
    }

    assert.deepEqual(r.users.basil, {
      isSystemUser: true,
      group: "basil",
      uid: null,
      description: "Basil secrets broker",
    });
    assert.deepEqual(r.groups.basil, { gid: null });
    assert.ok(r.users.app, "the example's own user is kept");

    const sc = r.serviceConfig;
    assert.ok(sc);
    assert.match(
      String(sc.ExecStart),
      /^\/nix\/store\/\w+-basil-[^/]+\/bin\/basil agent --config \/nix\/store\/\w+-basil-agent\.toml$/,
    );
    // Reload = SIGHUP = reopen the audit log and hot-reload catalog and policy.
    assert.equal(sc.ExecReload, "/usr/bin/kill -HUP $MAINPID");
    assert.equal(sc.User, "basil");
    assert.equal(sc.Group, "basil");
    assert.equal(sc.Restart, "on-failure");
    assert.equal(sc.RestartSec, "5s");
    assert.equal(sc.RuntimeDirectory, "basil");
    assert.equal(sc.RuntimeDirectoryMode, "0750"); // socket group = basil
    assert.equal(sc.StateDirectory, "basil");
    assert.equal(sc.StateDirectoryMode, "0700");
    assert.equal(sc.UMask, "0077");
    assert.equal(sc.ProtectSystem, "strict");
    assert.equal(sc.MemoryDenyWriteExecute, undefined, "breaks V8's JIT");
    assert.equal(sc.PrivateUsers, undefined, "breaks SO_PEERCRED identities");
    assert.deepEqual(sc.ReadWritePaths, ["/run/basil", "/var/lib/basil"]);
    // A Vault backend: IP sockets allowed.
    assert.deepEqual(sc.RestrictAddressFamilies, ["AF_UNIX", "AF_INET", "AF_INET6"]);
    assert.equal(sc.PrivateNetwork, false);
  },
});

/** What the module tells switch-to-configuration about content changes. */
interface Triggers {
  reload: { path: string; text: string | null }[];
  restart: { path: string; text: string | null }[];
  etc: Record<string, string>;
  files: ModuleResult["files"];
  execStart: string;
  unit: string;
}

function evalTriggers(modules: readonly string[]): Promise<Triggers> {
  const evalNix = nixPath(`${FIX}/eval.nix`);
  return nixEval(
    `let r = import ${evalNix} { modules = ${modulesExpr(modules)}; }; ` +
      `s = r.config.systemd.services.basil-agent; in {
        reload = map (t: { path = "\${t}"; text = t.text or null; }) (s.reloadTriggers or [ ]);
        restart = map (t: { path = "\${t}"; text = t.text or null; }) (s.restartTriggers or [ ]);
        etc = r.etcSources;
        inherit (r) files unit;
        execStart = s.serviceConfig.ExecStart;
      }`,
  );
}

/**
 * Why a module's triggers would leave a running agent on stale files, or
 * restart it needlessly: SIGHUP hot-reloads the catalog and policy, so a
 * content change of either must reload the unit (reloadTriggers, rendered as
 * X-Reload-Triggers) rather than restart it; the config is read only at
 * start, so its change must restart the unit.
 */
function triggerProblems(t: Triggers): string[] {
  const problems: string[] = [];
  if (t.reload.length > 0 && !/X-Reload-Triggers/.test(t.unit)) {
    problems.push("the unit lacks X-Reload-Triggers");
  }
  const lists = { reloadTriggers: t.reload, restartTriggers: t.restart };
  for (
    const [file, text, want] of [
      ["catalog.json", t.files.catalog, "reloadTriggers"],
      ["policy.json", t.files.policy, "reloadTriggers"],
      ["basil-agent.toml", t.files.toml, "restartTriggers"],
    ] as const
  ) {
    const etc = t.etc[`basil/${file}`];
    const other = want === "reloadTriggers" ? "restartTriggers" : "reloadTriggers";
    if (etc === undefined || !lists[want].map((x) => x.path).includes(etc)) {
      problems.push(`${want} lacks /etc/basil/${file}'s store file`);
    }
    // The stub's store paths hash only the name: compare contents too.
    if (text === null || !lists[want].map((x) => x.text).includes(text)) {
      problems.push(`${want} lacks ${file}'s content`);
    }
    if (etc !== undefined && lists[other].map((x) => x.path).includes(etc)) {
      problems.push(`${other} has /etc/basil/${file}'s store file`);
    }
  }
  // The TOML the agent is started with is the one that triggers restarts.
  const toml = t.etc["basil/basil-agent.toml"] ?? "<none>";
  if (!t.execStart.endsWith(` --config ${toml}`)) {
    problems.push(`ExecStart does not name ${toml}: ${t.execStart}`);
  }
  return problems;
}

Deno.test({
  name:
    "module: catalog and policy changes reload the agent (reloadTriggers), config changes restart it",
  ...needs("nix-instantiate"),
  fn: async () => {
    for (const mods of [[EXAMPLE], [MINIMAL, MODULE], [MODULE, FULL]]) {
      const t = await evalTriggers(mods);
      assert.deepEqual(triggerProblems(t), [], mods.join(" "));
      assert.equal(t.reload.length, 2);
      assert.equal(t.restart.length, 1);
    }
    // A catalog change is a different reload trigger (and so a reload of the
    // unit), not the same unit with new files behind /etc and no signal.
    const before = await evalTriggers([EXAMPLE]);
    const after = await evalTriggers([
      EXAMPLE,
      `{ services.basil.catalog.keys."app.extra" = { class = "value"; backend = "bao"; engine = "kv2"; path = "secret/data/extra"; writable = false; }; }`,
    ]);
    assert.notDeepEqual(after.reload.map((x) => x.text), before.reload.map((x) => x.text));
    assert.deepEqual(after.restart.map((x) => x.text), before.restart.map((x) => x.text));
    assert.match(after.files.catalog ?? "", /app\.extra/);
    assert.deepEqual(triggerProblems(after), []);

    // Negative twins: no reload triggers, no restart triggers, or the old
    // restart-on-everything wiring, are caught.
    const noReload = await evalTriggers([
      EXAMPLE,
      `{ lib, ... }: { systemd.services.basil-agent.reloadTriggers = lib.mkForce [ ]; }`,
    ]);
    assert.deepEqual(triggerProblems(noReload), [
      "reloadTriggers lacks /etc/basil/catalog.json's store file",
      "reloadTriggers lacks catalog.json's content",
      "reloadTriggers lacks /etc/basil/policy.json's store file",
      "reloadTriggers lacks policy.json's content",
    ]);
    const none = await evalTriggers([
      EXAMPLE,
      `{ lib, ... }: { systemd.services.basil-agent.restartTriggers = lib.mkForce [ ]; }`,
    ]);
    assert.deepEqual(triggerProblems(none), [
      "restartTriggers lacks /etc/basil/basil-agent.toml's store file",
      "restartTriggers lacks basil-agent.toml's content",
    ]);
    const restartAll = await evalTriggers([
      EXAMPLE,
      `{ config, ... }: { systemd.services.basil-agent.restartTriggers = map
        (f: config.environment.etc."basil/\${f}".source) [ "catalog.json" "policy.json" ]; }`,
    ]);
    assert.deepEqual(triggerProblems(restartAll), [
      "restartTriggers has /etc/basil/catalog.json's store file",
      "restartTriggers has /etc/basil/policy.json's store file",
    ]);
  },
});

Deno.test({
  name: "module: the guide's `service.basil` spelling is an alias of `services.basil`",
  ...needs("nix-instantiate"),
  fn: async () => {
    const canonical = await evalModules([EXAMPLE], ["files", "warnings"]);
    const seeds = await evalModules([`${FIX}/seed-spelling.nix`], [
      "files",
      "warnings",
      "failedAssertions",
    ]);
    assert.deepEqual(seeds.failedAssertions, []);
    // Definitions merge per option, like services.basil's: rules from both
    // snippets, keys from both.
    assert.deepEqual(seeds.files, canonical.files);
    assert.deepEqual(seeds.warnings, [
      "The option `service.basil' is an alias; write `services.basil' instead.",
    ]);
    assert.deepEqual(canonical.warnings, []);
  },
});

Deno.test({
  name: "module: the generated files pass the real loaders (basil explain)",
  ...needs("nix-instantiate", "deno"),
  fn: async () => {
    const r = await evalModules([`${FIX}/explain-host.nix`], ["files", "failedAssertions"]);
    assert.deepEqual(r.failedAssertions, []);
    const full = await evalModules([MODULE, FULL], ["files", "failedAssertions"]);
    assert.deepEqual(full.failedAssertions, []);

    await withTempDir(async (dir) => {
      const toml = `${dir}/basil-agent.toml`;
      const fullToml = `${dir}/full.toml`;
      const catalog = `${dir}/catalog.json`;
      const policy = `${dir}/policy.json`;
      await Deno.writeTextFile(toml, r.files.toml ?? "");
      await Deno.writeTextFile(fullToml, full.files.toml ?? "");
      await Deno.writeTextFile(catalog, r.files.catalog ?? "");
      await Deno.writeTextFile(policy, r.files.policy ?? "");
      // The TOML names /etc/basil/*.json (absent here): point at the copies.
      const explain = (config: string, op: string, key: string) =>
        basil([
          "explain",
          "-c",
          config,
          "--catalog",
          catalog,
          "--policy",
          policy,
          "--subject",
          "svc-app",
          "--op",
          op,
          "--key",
          key,
          "--json",
        ]);

      const get = await explain(toml, "get", "app.db_password");
      assert.equal(get.code, 0, get.stderr);
      assert.deepEqual(JSON.parse(get.stdout), {
        subject: "svc-app",
        op: "get",
        key: "app.db_password",
        decision: "allow",
        via: "subject:svc-app",
        matched_rule: {
          rule: "app-can-read-its-password",
          via: "subject:svc-app",
          subject: "svc-app",
          action: "op:get",
          target: "app.db_password",
        },
      });
      const sign = await explain(toml, "sign", "app.tls.signing_key");
      assert.equal(sign.code, 0, sign.stderr);
      const signed = JSON.parse(sign.stdout);
      assert.equal(signed.decision, "allow");
      assert.equal(signed.matched_rule.rule, "app-can-sign");
      const denied = await explain(toml, "get", "app.tls.signing_key");
      assert.equal(denied.code, 0, denied.stderr);
      assert.equal(JSON.parse(denied.stdout).decision, "deny");

      // Every key the module can emit, accepted by the (strict) config loader.
      assert.deepEqual(tomlKeys(parseToml(full.files.toml ?? "")), [
        "audit-log",
        "broker-identity.id",
        "broker-identity.response-signing-key-id",
        "bundle",
        "capability-policy",
        "catalog",
        "db-keystore-cipher",
        "grace-versions",
        "invocation.audience",
        "invocation.clock-skew-secs",
        "invocation.enable",
        "invocation.max-ttl-secs",
        "invocation.replay-cache-capacity",
        "invocation.request-encryption-key-id",
        "jwks.enable",
        "jwks.issuer",
        "jwks.listen",
        "jwks.tls.cert-file",
        "jwks.tls.enable",
        "jwks.tls.key-file",
        "jwt-audience",
        "jwt-auth-mount",
        "jwt-role",
        "logging.level",
        "max-encrypt-size",
        "max-payload-size",
        "no-reconcile",
        "onepassword-profile",
        "onepassword-project",
        "onepassword-provider-uri",
        "policy",
        "retain-versions",
        "retention-sweep-secs",
        "socket",
        "socket-group",
        "socket-mode",
        "svid-ttl-secs",
        "transit-mount",
        "unlock.age-yubikey",
        "unlock.bip39-phrase-file",
        "unlock.strict-bundle-perms",
        "unlock.unlock-passphrase-file",
        "unlock.unlock-passphrase-no-wipe",
        "unlock.unlock-tpm",
        "vault-addr",
      ]);
      const all = await explain(fullToml, "get", "app.db_password");
      assert.equal(all.code, 0, all.stderr);
      assert.equal(JSON.parse(all.stdout).decision, "allow");

      // Negative twin: the loader does reject a misspelled key.
      const typo = `${dir}/typo.toml`;
      await Deno.writeTextFile(typo, `socket-mod = "0600"\n${r.files.toml}`);
      const rejected = await explain(typo, "get", "app.db_password");
      assert.notEqual(rejected.code, 0);
      assert.match(rejected.stderr, /socket-mod/);
    });
  },
});

Deno.test({
  name: "module: assertions reject unsafe or inconsistent configurations",
  ...needs("nix-instantiate"),
  fn: async () => {
    const cases: [string, string, RegExp][] = [
      [
        "bundle unset",
        `{ lib, ... }: { services.basil.bundle = lib.mkForce null; }`,
        /bundle must be set/,
      ],
      [
        "bundle in the store",
        `{ lib, ... }: { services.basil.bundle = lib.mkForce "/nix/store/x-bundle.sealed"; }`,
        /must not be in the Nix store/,
      ],
      [
        "unlock passphrase in the store",
        `{ services.basil.settings.unlock.diskPassphraseFile = "/nix/store/x-pass"; }`,
        /settings\.unlock\.diskPassphraseFile must not be in the Nix store/,
      ],
      [
        "BIP39 phrase in the store",
        `{ services.basil.settings.unlock.bip39PhraseFile = "/nix/store/x-phrase"; }`,
        /settings\.unlock\.bip39PhraseFile must not be in the Nix store/,
      ],
      [
        "JWKS TLS key in the store",
        `{ services.basil.settings.jwks.tls.keyFile = "/nix/store/x-key.pem"; }`,
        /settings\.jwks\.tls\.keyFile must not be in the Nix store/,
      ],
      [
        "unixSubject with user and group",
        `{ services.basil.policy.unixSubjects.ops.user = "root"; users.users.root = { }; }`,
        /unixSubjects\.ops: set exactly one of `user' or `group'/,
      ],
      [
        "unixSubject with neither",
        `{ services.basil.policy.unixSubjects.nobody-at-all = { }; }`,
        /unixSubjects\.nobody-at-all: set exactly one/,
      ],
      [
        "unixSubject naming an undeclared user",
        `{ services.basil.policy.unixSubjects.ghost.user = "ghost"; }`,
        /unixSubjects\.ghost\.user = "ghost" is not declared in users\.users/,
      ],
      [
        "subject name clash",
        `{ services.basil.policy.subjects.ops.anyOf = [ { kind = "unix"; uid = 7; } ]; }`,
        /subject name `ops' is declared in both/,
      ],
      [
        "rule naming an unknown subject",
        `{ services.basil.policy.rules = [ { id = "x"; subjects = [ "nobody" ]; action = [ "op:get" ]; target = [ "demo.signing_key" ]; } ]; }`,
        /rules \(id `x'\): unknown subject `nobody'/,
      ],
      [
        "broker identity half set",
        `{ services.basil.settings.brokerIdentity.id = "basil://host/b"; }`,
        /brokerIdentity: set both/,
      ],
      [
        "invocation without audience",
        `{ services.basil.settings.invocation.enable = true; }`,
        /invocation\.enable needs a non-empty `audience'/,
      ],
      [
        "jwks tls without files",
        `{ services.basil.settings.jwks.tls.enable = true; }`,
        /jwks\.tls\.enable needs `certFile' and `keyFile'/,
      ],
      [
        "backend without kind",
        `{ services.basil.catalog.backends.mystery = { addr = "x"; }; }`,
        /backends\.mystery: set `implementation'/,
      ],
      [
        "key naming an unknown backend",
        `{ services.basil.catalog.keys."demo.other" = { class = "value"; backend = "nope"; path = "kv/x"; writable = false; }; }`,
        /keys\."demo\.other"\.backend names no declared backend/,
      ],
      ["running as root", `{ services.basil.settings.user = "root"; }`, /must not be root/],
      [
        "socket path too long",
        `{ services.basil.settings.socket = "/run/basil/${"x".repeat(100)}.sock"; }`,
        /longer than the 107-byte/,
      ],
    ];
    const ok = await evalModules([MINIMAL, MODULE], ["failedAssertions"]);
    assert.deepEqual(ok.failedAssertions, []);
    for (const [name, mod, expected] of cases) {
      const r = await evalModules([MINIMAL, MODULE, mod], ["failedAssertions"]);
      assert.ok(
        r.failedAssertions.some((m) => expected.test(m)),
        `${name}: expected ${expected}, got ${JSON.stringify(r.failedAssertions)}`,
      );
    }
    // Option declarations are strict too: a typo is an evaluation error.
    const typo = await nixEvalError(
      `(import ${nixPath(`${FIX}/eval.nix`)} { modules = ${
        modulesExpr([MINIMAL, MODULE, `{ services.basil.settings.sockett = "/x"; }`])
      }; }).files.toml`,
    );
    assert.match(typo, /The option `services\.basil\.settings\.sockett' does not exist/);
    // ...and so are option types (a Nix path literal for the bundle would be
    // copied into the world-readable store).
    const path = await nixEvalError(
      `(import ${nixPath(`${FIX}/eval.nix`)} { modules = ${
        modulesExpr([
          MINIMAL,
          MODULE,
          `{ lib, ... }: { services.basil.bundle = lib.mkForce ./bundle.sealed; }`,
        ])
      }; }).files.toml`,
    );
    assert.match(path, /services\.basil\.bundle' has a value of the wrong type/);
  },
});

Deno.test({
  name: "module: the sandbox follows the configuration (network, TPM, groups, paths)",
  ...needs("nix-instantiate"),
  fn: async () => {
    const sc = async (...mods: string[]) => {
      const r = await evalModules([MODULE, ...mods], ["serviceConfig", "failedAssertions"]);
      assert.deepEqual(r.failedAssertions, []);
      assert.ok(r.serviceConfig);
      return r.serviceConfig;
    };

    // Only a local db-keystore: no IP at all.
    const local = await sc(MINIMAL);
    assert.deepEqual(local.RestrictAddressFamilies, ["AF_UNIX"]);
    assert.equal(local.PrivateNetwork, true);
    assert.equal(local.IPAddressDeny, "any");
    assert.equal(local.PrivateDevices, true);
    assert.equal(local.DeviceAllow, undefined);
    assert.deepEqual(local.SupplementaryGroups, []);
    assert.equal(local.RuntimeDirectoryMode, "0755");

    // The example's Vault backend, with networking forced off.
    const forcedOff = await sc(EXAMPLE, `{ services.basil.settings.allowNetwork = false; }`);
    assert.deepEqual(forcedOff.RestrictAddressFamilies, ["AF_UNIX"]);

    // TPM, a foreign socket group, 1Password (network), files outside state.
    const full = await sc(FULL);
    assert.equal(full.PrivateDevices, false);
    assert.deepEqual(full.DeviceAllow, ["/dev/tpmrm0 rw"]);
    assert.equal(full.DevicePolicy, "closed");
    assert.deepEqual(full.SupplementaryGroups, ["basil-clients", "tss"]);
    assert.deepEqual(full.RestrictAddressFamilies, ["AF_UNIX", "AF_INET", "AF_INET6"]);
    // Audit log dir and the bip39 file's dir (wiped after reading); the
    // passphrase file is kept (no-wipe), so its dir stays read-only.
    assert.deepEqual(full.ReadWritePaths, [
      "/run/basil",
      "/var/lib/basil",
      "-/var/log/basil",
      "-/run/credentials/basil",
    ]);

    const keystore = await sc(
      MINIMAL,
      `{ lib, ... }: { services.basil.catalog.backends.local.addr = lib.mkForce "/srv/basil/keystore.db"; }`,
    );
    assert.deepEqual(keystore.ReadWritePaths, ["/run/basil", "/var/lib/basil", "-/srv/basil"]);
  },
});

/** Files in `writes` whose directory no ReadWritePaths entry ("-" stripped) covers. */
function uncoveredWrites(writes: readonly string[], readWritePaths: readonly string[]): string[] {
  const dirs = readWritePaths.map((d) => d.replace(/^-/, "").replace(/\/+$/, ""));
  return writes.filter((w) => !dirs.some((d) => w.startsWith(`${d}/`)));
}

Deno.test({
  name: "module: ReadWritePaths covers every file the agent may write (--print-permissions)",
  ...needs("nix-instantiate", "deno"),
  fn: async () => {
    // The agent's write set comes from lib/sandbox/permissions.ts, through the
    // real CLI; each file's directory must be writable in the unit, or the
    // agent fails at its first write (or rename, or wipe) on the host.
    const cases: [string, string[]][] = [
      ["local keystore", [MINIMAL, MODULE]],
      ["migration example", [EXAMPLE]],
      [
        // Every optional file set; the passphrase is wiped (written) too.
        "full settings",
        [
          MODULE,
          FULL,
          `{ lib, ... }: { services.basil.settings.unlock = { unlockTpm = lib.mkForce false; unlockPassphraseNoWipe = lib.mkForce false; }; }`,
        ],
      ],
      [
        "everything outside the managed directories",
        [
          MINIMAL,
          MODULE,
          `{ lib, ... }: { services.basil = {
            bundle = lib.mkForce "/srv/bundle/bundle.sealed";
            catalog.backends.local.addr = lib.mkForce "/srv/keystore/keystore.db";
            settings.auditLog = "/var/log/basil-audit/audit.jsonl";
            settings.socket = "/run/basil-elsewhere/basil.sock";
            settings.unlock.bip39PhraseFile = "/run/keys/bip39";
          }; }`,
        ],
      ],
    ];
    await withTempDir(async (dir) => {
      for (const [name, mods] of cases) {
        const r = await evalModules(mods, ["files", "serviceConfig", "failedAssertions"]);
        assert.deepEqual(r.failedAssertions, [], name);
        const rwp = r.serviceConfig?.ReadWritePaths as string[];
        const sub = await Deno.makeTempDir({ dir });
        for (const [f, text] of Object.entries(r.files)) {
          await Deno.writeTextFile(`${sub}/${f}`, text ?? "");
        }
        const p = await basil([
          "agent",
          "-c",
          `${sub}/toml`,
          "--catalog",
          `${sub}/catalog`,
          "--policy",
          `${sub}/policy`,
          "--print-permissions",
        ]);
        assert.equal(p.code, 0, `${name}: ${p.stderr}`);
        const flag = p.stdout.split("\n").find((l) => l.startsWith("--allow-write="));
        assert.ok(flag, `${name}: no --allow-write in\n${p.stdout}`);
        const writes = flag.slice("--allow-write=".length).split(",");
        assert.ok(writes.some((w) => w.endsWith(".epoch.tmp")), `${name}: ${writes}`);
        assert.deepEqual(uncoveredWrites(writes, rwp), [], `${name}: ReadWritePaths ${rwp}`);
        // Negative twin: without its last entry, something is uncovered.
        assert.notDeepEqual(uncoveredWrites(writes, rwp.slice(0, -1)), [], name);
      }
    });
  },
});

/** The units under test: the static file and module-rendered variants. */
async function unitsUnderTest(): Promise<[string, string][]> {
  const render = async (mods: string[]) => {
    const r = await evalModules(mods, ["unit"]);
    assert.ok(r.unit !== null);
    return r.unit;
  };
  return [
    ["nix/basil-agent.service", await Deno.readTextFile(`${NIX_DIR}/basil-agent.service`)],
    ["module (migration example, Vault)", await render([EXAMPLE])],
    ["module (local keystore, no network)", await render([MINIMAL, MODULE])],
    ["module (TPM, 1Password)", await render([MODULE, FULL])],
  ];
}

Deno.test({
  name: "systemd: the units verify cleanly, and a typo'd copy is flagged",
  ...needs("nix-instantiate", "systemd-analyze"),
  fn: async () => {
    await withTempDir(async (dir) => {
      for (const [name, unit] of await unitsUnderTest()) {
        const sub = await Deno.makeTempDir({ dir });
        const path = await stageUnit(sub, unit);
        const r = await verifyUnit(path);
        assert.equal(r.code, 0, `${name}: verify failed:\n${r.stderr}`);
        assert.doesNotMatch(r.stderr, UNKNOWN_DIRECTIVE, `${name}:\n${r.stderr}`);
      }
      const good = await Deno.readTextFile(`${NIX_DIR}/basil-agent.service`);
      const typo = good.replace(/^ProtectSystem=/m, "ProtectSytem=").replace(
        /^\[Install\]/m,
        "[Instal]",
      );
      const path = await stageUnit(dir, typo, "typo.service");
      const r = await verifyUnit(path);
      assert.match(r.stderr, /Unknown key 'ProtectSytem' in section \[Service\]/);
      assert.match(r.stderr, /Unknown section 'Instal'/);
    });
  },
});

Deno.test({
  name: `systemd: exposure score of every unit variant is <= ${MAX_EXPOSURE}`,
  ...needs("nix-instantiate", "systemd-analyze"),
  fn: async () => {
    await withTempDir(async (dir) => {
      for (const [name, unit] of await unitsUnderTest()) {
        const sub = await Deno.makeTempDir({ dir });
        const score = await exposure(await stageUnit(sub, unit));
        // deno-lint-ignore no-console
        console.log(`  exposure ${score.toFixed(1)}  ${name}`);
        assert.ok(score <= MAX_EXPOSURE, `${name}: exposure ${score} > ${MAX_EXPOSURE}`);
      }
      // Negative twin: an unhardened unit fails the gate.
      const sub = await Deno.makeTempDir({ dir });
      const bare = "[Service]\nExecStart=/usr/local/bin/basil agent --config /etc/basil/x.toml\n";
      const score = await exposure(await stageUnit(sub, bare));
      assert.ok(score > MAX_EXPOSURE, `unhardened unit scored ${score}`);
    });
  },
});

Deno.test({
  name: "systemd: the standalone unit and the module share one sandbox definition",
  ...needs("nix-instantiate"),
  fn: async () => {
    const hardening = await nixEval<Record<string, unknown>>(
      `${LIB}.hardening { network = true; }`,
    );
    const stat = serviceSection(await Deno.readTextFile(`${NIX_DIR}/basil-agent.service`));
    for (const [k, v] of Object.entries(hardening)) {
      assert.deepEqual(stat.get(k), unitValues(v), `nix/basil-agent.service ${k}`);
    }
    // Anything else in the static unit is unit plumbing, not sandboxing.
    const plumbing = new Set([
      "Type",
      "User",
      "Group",
      "ExecStart",
      "ExecReload",
      "KillMode",
      "Restart",
      "RestartSec",
      "Environment",
      "RuntimeDirectory",
      "RuntimeDirectoryMode",
      "StateDirectory",
      "StateDirectoryMode",
      "CacheDirectory",
      "CacheDirectoryMode",
      "ReadWritePaths",
    ]);
    for (const k of stat.keys()) {
      assert.ok(k in hardening || plumbing.has(k), `unexpected directive ${k} in the static unit`);
    }
    assert.deepEqual(stat.get("ExecStart"), [
      "/usr/local/bin/basil agent --config /etc/basil/basil-agent.toml",
    ]);
    assert.deepEqual(stat.get("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert.deepEqual(stat.get("ReadWritePaths"), ["/run/basil", "/var/lib/basil"]);
    // Each writable path says why it is writable (the comment right above it).
    const lines = (await Deno.readTextFile(`${NIX_DIR}/basil-agent.service`)).split("\n");
    lines.forEach((l, i) => {
      if (l.startsWith("ReadWritePaths=")) {
        assert.match(lines[i - 1] ?? "", /^# \S/, `no comment above ${l}`);
      }
    });

    // The module applies the same definition (plus per-config extras).
    const mod = await evalModules([EXAMPLE], ["serviceConfig"]);
    for (const [k, v] of Object.entries(hardening)) {
      assert.deepEqual(mod.serviceConfig?.[k], v, `module ${k}`);
    }
    for (
      const k of [
        "RestrictAddressFamilies",
        "PrivateDevices",
        "SystemCallFilter",
        "CapabilityBoundingSet",
      ]
    ) {
      assert.ok(k in hardening, `${k} missing from the shared hardening`);
    }
  },
});

// ------------------------------------------------------- deno.json and CI

/** A task's leading `--flags`, after `deno <sub>` and before the first non-flag argument. */
function taskFlags(task: string, sub: string): { flags: string[]; rest: string[] } {
  const words = task.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", sub], task);
  const i = words.findIndex((w, j) => j >= 2 && !w.startsWith("--"));
  const end = i === -1 ? words.length : i;
  return { flags: words.slice(2, end), rest: words.slice(end) };
}

/** Differences between two tasks' permission (`--allow-*`) flags, both ways. */
function permissionDrift(basilTask: string, compileTask: string): string[] {
  const allow = (flags: string[]) => flags.filter((f) => f.startsWith("--allow-")).sort();
  const a = allow(taskFlags(basilTask, "run").flags);
  // compile: `<flags> --include main.ts --output dist/basil cli.ts`; the
  // --include/--output pairs are build options, not permissions.
  const c = allow(taskFlags(compileTask, "compile").flags);
  return [
    ...a.filter((f) => !c.includes(f)).map((f) => `compile lacks ${f}`),
    ...c.filter((f) => !a.includes(f)).map((f) => `compile adds ${f}`),
  ];
}

Deno.test({
  name: "deno.json: the compile task's permission flags are exactly the basil task's",
  fn: async () => {
    const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks as Record<
      string,
      string
    >;
    const basilTask = tasks.basil!;
    const compileTask = tasks.compile!;
    assert.deepEqual(permissionDrift(basilTask, compileTask), []);
    // The same flags, in the same order, plus the binary's build options.
    // lib/cli/commands/ is loaded by computed specifiers (lib/cli/program.ts),
    // which deno compile cannot see.
    const m =
      /^deno compile (.+) --include main\.ts --include lib\/cli\/commands\/ --output dist\/basil cli\.ts$/
        .exec(compileTask);
    assert.ok(
      m,
      `compile task is not \`deno compile <flags> --include main.ts --include lib/cli/commands/ ...\`: ${compileTask}`,
    );
    assert.deepEqual(m[1]!.split(/\s+/), BASIL_FLAGS);
    assert.ok(BASIL_FLAGS.includes("--no-prompt"));

    // Negative twin: the compile line as it once was (no ffi, sys, yubikey
    // plugin or TPM variables) is reported.
    const old = compileTask
      .replace(/ --allow-ffi=\S+/, "")
      .replace(/ --allow-sys=\S+/, "")
      .replace("--allow-run=deno,age-plugin-yubikey", "--allow-run=deno");
    const drift = permissionDrift(basilTask, old);
    assert.ok(drift.some((d) => d.startsWith("compile lacks --allow-ffi=")), drift.join("\n"));
    assert.ok(drift.includes("compile lacks --allow-sys=uid"), drift.join("\n"));
    assert.ok(drift.includes("compile adds --allow-run=deno"), drift.join("\n"));
  },
});

/** A directory of stub commands (shell scripts) plus symlinks to real ones. */
async function stubBin(dir: string, stubs: Record<string, string>, real: string[]) {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, body] of Object.entries(stubs)) {
    await Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  for (const name of real) {
    const which = await run("sh", ["-c", `command -v ${name}`]);
    assert.equal(which.code, 0, `${name} not found`);
    await Deno.symlink(which.stdout.trim(), `${dir}/${name}`);
  }
}

Deno.test({
  name: "ci: install-peers.sh installs nodejs and npm from apt first, only when npm is missing",
  ...needs("bash", "sh", "grep", "chmod"),
  fn: async () => {
    const bash = (await run("sh", ["-c", "command -v bash"])).stdout.trim();
    await withTempDir(async (dir) => {
      // apt-get logs its arguments; installing npm puts an `npm` on PATH.
      // dpkg-query reports every peer installed, or none ($ALL_MISSING).
      const setup = async (name: string, o: { npm: boolean; aptMakesNpm: boolean }) => {
        const bin = `${dir}/${name}`;
        await stubBin(bin, {
          "apt-get": `echo "$*" >> "${bin}/apt.log"\n` +
            (o.aptMakesNpm
              ? `case " $* " in *" npm "*) printf '#!/bin/sh\\n' > "${bin}/npm"; chmod +x "${bin}/npm";; esac`
              : ""),
          "dpkg-query": `[ -n "$ALL_MISSING" ] || printf 'install ok installed'`,
          ...(o.npm ? { npm: "exit 0" } : {}),
        }, ["grep", "chmod"]);
        return bin;
      };
      const peers = async (bin: string, allMissing = false) => {
        const r = await run(bash, [`${ROOT}/tools/install-peers.sh`], {
          env: { PATH: bin, ...(allMissing ? { ALL_MISSING: "1" } : {}) },
        });
        const log = await Deno.readTextFile(`${bin}/apt.log`).catch(() => "");
        return { ...r, apt: log.split("\n").filter((l) => l !== "") };
      };
      const INSTALL = "install -y --no-install-recommends -o DPkg::Lock::Timeout=300";
      const UPDATE = "update -o DPkg::Lock::Timeout=300";

      // npm present, peers present: apt is not touched.
      const present = await peers(await setup("present", { npm: true, aptMakesNpm: true }));
      assert.equal(present.code, 0, present.stderr);
      assert.deepEqual(present.apt, []);
      assert.match(present.stdout, /peers: all \d+ packages present/);

      // No npm: nodejs and npm from apt, then the (present) peers.
      const clean = await peers(await setup("clean", { npm: false, aptMakesNpm: true }));
      assert.equal(clean.code, 0, clean.stderr);
      assert.deepEqual(clean.apt, [UPDATE, `${INSTALL} nodejs npm`]);

      // A clean machine: nodejs/npm first, then the peers; one apt update.
      const bare = await peers(await setup("bare", { npm: false, aptMakesNpm: true }), true);
      assert.equal(bare.code, 0, bare.stderr);
      assert.equal(bare.apt.length, 3, bare.apt.join("\n"));
      assert.deepEqual(bare.apt.slice(0, 2), [UPDATE, `${INSTALL} nodejs npm`]);
      assert.match(
        bare.apt[2]!,
        new RegExp(`^${INSTALL} swtpm .* systemd prometheus groff-base man-db zsh fish strace$`),
      );
      assert.doesNotMatch(bare.apt[2]!, / npm\b/);

      // Negative twin: apt "succeeds" but npm is still missing: a failure.
      const broken = await peers(await setup("broken", { npm: false, aptMakesNpm: false }));
      assert.notEqual(broken.code, 0);
      assert.match(broken.stderr, /npm still not on PATH/);
    });
  },
});

Deno.test({
  name: "ci: .ci/run ends with `N passed, N failed` whatever happens",
  ...needs("bash", "sed", "tee", "mktemp"),
  fn: async () => {
    await withTempDir(async (dir) => {
      // A copy of .ci/run in a tree whose tools/ are stubs.
      const ci = async (peersExit: number, testOutput: string, testExit: number) => {
        const root = await Deno.makeTempDir({ dir });
        await Deno.mkdir(`${root}/.ci`);
        await Deno.mkdir(`${root}/tools`);
        await Deno.copyFile(`${ROOT}/.ci/run`, `${root}/.ci/run`);
        await Deno.chmod(`${root}/.ci/run`, 0o755);
        await Deno.writeTextFile(
          `${root}/tools/install-peers.sh`,
          `#!/bin/sh\nexit ${peersExit}\n`,
          {
            mode: 0o755,
          },
        );
        await Deno.writeTextFile(
          `${root}/tools/deno`,
          `#!/bin/sh\n[ "$1" = --version ] && { echo "deno 2.9.6"; exit 0; }\n` +
            `printf '%s\\n' ${JSON.stringify(testOutput)}\nexit ${testExit}\n`,
          { mode: 0o755 },
        );
        const r = await run("bash", [`${root}/.ci/run`], { cwd: root });
        const lines = r.stdout.trimEnd().split("\n");
        return { code: r.code, last: lines[lines.length - 1] };
      };
      assert.deepEqual(await ci(1, "", 0), { code: 1, last: "0 passed, 1 failed" });
      assert.deepEqual(await ci(0, "ok | 7 passed | 0 failed (3s)", 0), {
        code: 0,
        last: "7 passed, 0 failed",
      });
      assert.deepEqual(await ci(0, "FAILED | 5 passed | 2 failed (3s)", 1), {
        code: 1,
        last: "5 passed, 2 failed",
      });
      // A crash after a clean summary still counts as a failure.
      assert.deepEqual(await ci(0, "ok | 7 passed | 0 failed (3s)", 134), {
        code: 134,
        last: "7 passed, 1 failed",
      });
      assert.deepEqual(await ci(0, "no summary at all", 1), {
        code: 1,
        last: "0 passed, 1 failed",
      });
    });
  },
});
