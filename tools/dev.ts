// deno-lint-ignore-file no-console
/**
 * `deno task dev`: development fixtures (dev only, run under -A).
 *
 * - `deno task dev` scaffolds the demo workdir in .dev/ once (keystore
 *   backend) and runs `basil agent` on it; `--watch` restarts it when lib/
 *   changes.
 * - `deno task dev --engine openbao|vault` is the seeds' "Try it before
 *   changing a host" fixture: with `bao` (or `vault`) on PATH it boots a
 *   throwaway dev server on 127.0.0.1, enables transit, KV v2 and PKI (a
 *   root CA and a `basil` role), writes a catalog and policy for seed 002's
 *   Tier 1 and Tier 2 examples, seals a bundle holding a token for it, and
 *   prints the commands to drive the broker; Ctrl-C stops the server.
 *   Without the binary it says what to install and exits 1.
 */

import { demoPaths, scaffold } from "../lib/cli/demo/scaffold.ts";

const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const cli = ["run", "--no-prompt", "-A", `${root}/cli.ts`];

/** `--engine` value, or undefined for the keystore fixture. */
function engineArg(args: readonly string[]): "openbao" | "vault" | undefined {
  const i = args.findIndex((a) => a === "--engine" || a.startsWith("--engine="));
  if (i < 0) return undefined;
  const v = args[i]!.includes("=") ? args[i]!.split("=")[1] : args[i + 1];
  if (v !== "openbao" && v !== "vault") {
    console.error(`--engine must be "openbao" or "vault" (got ${JSON.stringify(v ?? "")})`);
    Deno.exit(2);
  }
  return v;
}

/** The absolute path of `name` on PATH, if any. */
export function onPath(name: string, path = Deno.env.get("PATH") ?? ""): string | undefined {
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function keystoreFixture(): Promise<void> {
  const p = demoPaths(`${root}/.dev`);
  try {
    Deno.statSync(p.bundle);
  } catch {
    Deno.mkdirSync(p.dir, { recursive: true, mode: 0o700 });
    await scaffold(p, Deno.uid()!);
    console.log(`scaffolded ${p.dir}`);
  }
  console.log(`
dev agent on ${p.socket} (restarts on changes under lib/)
  export BASIL_SOCKET=${p.socket}
  tools/deno task basil list
  tools/deno task basil get --key-id demo.app.db_password --format raw
  tail -f ${p.audit}
`);
  const agent = new Deno.Command(Deno.execPath(), { args: [...cli, "agent", "-c", p.config] })
    .spawn();
  await agent.status;
}

async function engineFixture(engine: "openbao" | "vault"): Promise<void> {
  const binName = engine === "openbao" ? "bao" : "vault";
  const bin = onPath(binName);
  if (bin === undefined) {
    console.error(
      `no \`${binName}\` on PATH. Install ${
        engine === "openbao" ? "OpenBao" : "HashiCorp Vault"
      } ` +
        `(the \`${binName}\` binary from ${
          engine === "openbao"
            ? "https://openbao.org/downloads/"
            : "https://developer.hashicorp.com/vault/install"
        }, or your distribution's package), then run \`deno task dev --engine ${engine}\` again. ` +
        "`deno task dev` without --engine runs the keystore fixture, which needs nothing else.",
    );
    Deno.exit(1);
  }
  const dir = `${root}/.dev/${engine}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const token = Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const addr = `http://127.0.0.1:${port}`;
  const log = await Deno.open(`${dir}/server.log`, { write: true, create: true, mode: 0o600 });
  // The root token goes on the dev server's argv, as `bao server -dev` takes it:
  // a throwaway token for a throwaway loopback server.
  const server = new Deno.Command(bin, {
    args: [
      "server",
      "-dev",
      `-dev-root-token-id=${token}`,
      `-dev-listen-address=127.0.0.1:${port}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  void server.stdout.pipeTo(log.writable, { preventClose: true }).catch(() => {});
  void server.stderr.pipeTo(
    Deno.openSync(`${dir}/server.err`, { write: true, create: true, mode: 0o600 }).writable,
  ).catch(() => {});
  const stop = () => {
    try {
      server.kill("SIGTERM");
    } catch {
      // gone
    }
  };
  Deno.addSignalListener("SIGINT", () => {
    stop();
    Deno.exit(0);
  });
  try {
    await waitHealthy(addr);
    await setUp(addr, token);
    const files = await writeFiles(dir, addr, token, engine);
    await seal(files);
    console.log(`
${engine} dev server on ${addr} (root token in ${files.tokenFile}); workdir ${dir}
  ${Deno.execPath()} ${cli.join(" ")} agent -c ${files.config} &
  export BASIL_SOCKET=${files.socket}
  tools/deno task basil get --key-id app.db_password --format raw
  tools/deno task basil rotate --key-id app.db_password
  tools/deno task basil sign --key-id app.tls.signing_key 'release v1'
  tools/deno task basil encrypt --key-id app.backup_key backup.tar
  tools/deno task basil issue-cert --key-id app.tls.issuer --common-name app.example --ttl-secs 3600
Ctrl-C stops the ${engine} dev server.`);
    if (Deno.env.get("BASIL_DEV_ONESHOT") === "1") {
      stop();
      return;
    }
    await server.status;
  } catch (e) {
    stop();
    throw e;
  }
}

async function waitHealthy(addr: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${addr}/v1/sys/health`);
      await r.body?.cancel();
      if (r.status === 200) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the dev server at ${addr} did not become healthy`);
}

async function setUp(addr: string, token: string): Promise<void> {
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${addr}/v1/${path}`, {
      method,
      headers: { "X-Vault-Token": token },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${text}`);
    return text === "" ? undefined : JSON.parse(text);
  };
  const mounts = (await call("GET", "sys/mounts")).data ?? {};
  if (!("transit/" in mounts)) await call("POST", "sys/mounts/transit", { type: "transit" });
  if (!("secret/" in mounts)) {
    await call("POST", "sys/mounts/secret", { type: "kv", options: { version: "2" } });
  }
  if (!("pki/" in mounts)) await call("POST", "sys/mounts/pki", { type: "pki" });
  await call("POST", "pki/root/generate/internal", {
    common_name: "Basil dev root",
    ttl: "87600h",
    key_type: "ec",
    key_bits: 256,
  });
  await call("POST", "pki/roles/basil", {
    allow_any_name: true,
    allowed_uri_sans: ["spiffe://*"],
    require_cn: false,
    key_type: "ec",
    key_bits: 256,
    max_ttl: "720h",
  });
}

interface DevFiles {
  config: string;
  catalog: string;
  policy: string;
  bundle: string;
  socket: string;
  tokenFile: string;
  passphrase: string;
  addr: string;
}

async function writeFiles(
  dir: string,
  addr: string,
  token: string,
  engine: string,
): Promise<DevFiles> {
  const f: DevFiles = {
    config: `${dir}/basil-agent.toml`,
    catalog: `${dir}/catalog.json`,
    policy: `${dir}/policy.json`,
    bundle: `${dir}/bundle.sealed`,
    socket: `${dir}/basil.sock`,
    tokenFile: `${dir}/bao-token`,
    passphrase: `${dir}/unlock-passphrase.txt`,
    addr,
  };
  const uid = Deno.uid()!;
  const catalog = {
    schemaVersion: 1,
    backends: {
      bao: {
        kind: "vault",
        addr,
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
        description: `Tier 1: the app's database password, a value in ${engine} KV v2.`,
      },
      "app.tls.signing_key": {
        class: "asymmetric",
        keyType: "ed25519",
        backend: "bao",
        engine: "transit",
        path: "app-tls",
        writable: true,
        missing: "generate",
        description: "Tier 2: a signing key used in place in transit.",
      },
      "app.backup_key": {
        class: "symmetric",
        keyType: "aes-256-gcm",
        backend: "bao",
        engine: "transit",
        path: "app-backup",
        writable: true,
        missing: "generate",
        description: "Tier 2: an encryption key used in place in transit.",
      },
      "app.tls.issuer": {
        class: "asymmetric",
        keyType: "ecdsa-p256",
        backend: "bao",
        engine: "pki",
        path: "pki/issue/basil",
        writable: false,
        missing: "error",
        description: "Tier 2: X.509 leaves from the dev server's PKI role.",
      },
    },
  };
  const policy = {
    schemaVersion: 2,
    subjects: { "svc-app": { anyOf: [{ kind: "unix", uid }] } },
    roles: {
      signer: ["sign", "verify", "get_public_key"],
      crypter: ["encrypt", "decrypt"],
      values: ["get", "set", "rotate", "list"],
    },
    rules: [
      {
        id: "app-can-read-its-password",
        subjects: ["svc-app"],
        action: ["role:values"],
        target: ["app.db_password"],
      },
      {
        id: "app-can-sign",
        subjects: ["svc-app"],
        action: ["role:signer"],
        target: ["app.tls.signing_key"],
      },
      {
        id: "app-can-encrypt",
        subjects: ["svc-app"],
        action: ["role:crypter"],
        target: ["app.backup_key"],
      },
      {
        id: "app-can-issue",
        subjects: ["svc-app"],
        action: ["op:mint"],
        target: ["app.tls.issuer"],
      },
    ],
    config: { names: { users: { [String(uid)]: "dev-user" } }, memberships: { [String(uid)]: [] } },
  };
  const q = JSON.stringify;
  const write = (p: string, text: string, mode: number) =>
    Deno.writeTextFileSync(p, text, { mode });
  write(f.catalog, q(catalog, null, 2) + "\n", 0o644);
  write(f.policy, q(policy, null, 2) + "\n", 0o644);
  write(f.tokenFile, token + "\n", 0o600);
  write(
    f.passphrase,
    Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0"))
      .join("") + "\n",
    0o600,
  );
  write(
    f.config,
    `# Written by \`deno task dev --engine ${engine}\`.
catalog = ${q(f.catalog)}
policy = ${q(f.policy)}
bundle = ${q(f.bundle)}
socket = ${q(f.socket)}
socket-mode = "0600"
vault-addr = ${q(addr)}
audit-log = ${q(`${dir}/audit.jsonl`)}

[unlock]
unlock-passphrase-file = ${q(f.passphrase)}
unlock-passphrase-no-wipe = true
`,
    0o600,
  );
  return await Promise.resolve(f);
}

async function seal(f: DevFiles): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      ...cli,
      "bundle",
      "create",
      f.bundle,
      "--slot",
      `passphrase:file=${f.passphrase}`,
      "--backend",
      `id=bao,type=openbao,addr=${f.addr},token-file=${f.tokenFile}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`bundle create failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

if (import.meta.main) {
  const engine = engineArg(Deno.args);
  if (engine === undefined) await keystoreFixture();
  else await engineFixture(engine);
}
