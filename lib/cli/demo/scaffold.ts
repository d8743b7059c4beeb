/**
 * `basil demo` workdir: catalog, policy, agent config, a random passphrase
 * and keystore DEK (both 0600), and the sealed bundle. The directory is
 * created by the demo, 0700, and carries a marker file; a directory the demo
 * did not create is never marked, used or wiped.
 * @module
 */

import { toHex } from "../../core/encoding.ts";
import { writeFileAtomic } from "../../core/fs.ts";
import { createBundleFile, planFromFlags } from "../commands/bundle.ts";
import { CliError } from "../io.ts";

/** Marker of a workdir the demo created itself: only such a directory is wiped on a rerun. */
export const MARKER = ".basil-demo-workdir";

/** Paths of a demo workdir. */
export interface DemoPaths {
  readonly dir: string;
  readonly catalog: string;
  readonly policy: string;
  readonly config: string;
  readonly bundle: string;
  readonly passphrase: string;
  readonly dek: string;
  readonly db: string;
  readonly audit: string;
  readonly socket: string;
  readonly agentLog: string;
}

/** The paths under `dir`. */
export function demoPaths(dir: string): DemoPaths {
  return {
    dir,
    catalog: `${dir}/catalog.json`,
    policy: `${dir}/policy.json`,
    config: `${dir}/basil-agent.toml`,
    bundle: `${dir}/bundle.sealed`,
    passphrase: `${dir}/unlock-passphrase.txt`,
    dek: `${dir}/keystore-dek.bin`,
    db: `${dir}/keystore.db`,
    audit: `${dir}/audit.jsonl`,
    socket: `${dir}/basil.sock`,
    agentLog: `${dir}/agent.log`,
  };
}

/**
 * Creates the workdir, or recreates it when it carries the marker (a rerun).
 * The marker goes only into a directory this call created itself (a
 * non-recursive mkdir that fails if anything is already there), so an
 * existing directory of the user's, even an empty one, is never marked and
 * so never becomes wipeable by a later rerun. An existing path is reused only
 * when it is a real directory (not a symlink), owned by the caller and marked
 * by an earlier run; unlike upstream's `--force`, nothing else is ever wiped.
 */
export function prepareDir(dir: string, uid: number | null): void {
  if (!dir.startsWith("/") || /[,\n"\\]/.test(dir)) {
    throw new CliError("--dir must be an absolute path without commas, quotes or backslashes", 2);
  }
  if (new TextEncoder().encode(`${dir}/basil.sock`).length > 96) {
    throw new CliError(`--dir ${dir} is too long: the socket path must stay within 96 bytes`, 2);
  }
  if (dir === "/" || dir.endsWith("/")) {
    throw new CliError("--dir must name a directory below /, without a trailing slash", 2);
  }
  let st: Deno.FileInfo | undefined;
  try {
    st = Deno.lstatSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new CliError(`${dir}: cannot inspect it; choose another --dir`);
    }
  }
  if (st !== undefined) {
    const choose = "choose a new --dir (the demo creates it)";
    if (!st.isDirectory) {
      throw new CliError(`${dir} exists and is not a directory (or is a symlink); ${choose}`);
    }
    if (uid !== null && st.uid !== null && st.uid !== uid) {
      throw new CliError(`${dir} is owned by uid ${st.uid}, not by you; ${choose}`);
    }
    let marked = false;
    try {
      marked = Deno.lstatSync(`${dir}/${MARKER}`).isFile;
    } catch { /* unmarked */ }
    if (!marked) {
      throw new CliError(`${dir} already exists and was not created by basil demo; ${choose}`);
    }
    Deno.removeSync(dir, { recursive: true });
  }
  const parent = dir.slice(0, dir.lastIndexOf("/")) || "/";
  Deno.mkdirSync(parent, { recursive: true });
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new CliError(`${dir} appeared while the demo was preparing it; choose another --dir`);
    }
    throw e;
  }
  Deno.chmodSync(dir, 0o700);
  Deno.writeTextFileSync(`${dir}/${MARKER}`, "created by basil demo; safe to delete\n", {
    createNew: true,
    mode: 0o600,
  });
}

function catalogJson(p: DemoPaths): unknown {
  return {
    schemaVersion: 1,
    backends: {
      "local-db": {
        kind: "keystore",
        addr: p.db,
        engines: ["transit", "kv2"],
        mintKeyTypes: ["ed25519"],
      },
    },
    keys: {
      "demo.signing_key": {
        class: "asymmetric",
        keyType: "ed25519",
        backend: "local-db",
        engine: "transit",
        path: "demo/signing-key",
        writable: true,
        missing: "generate",
        description: "Signs releases in place; the private key never leaves the keystore",
      },
      "demo.aead_key": {
        class: "symmetric",
        keyType: "aes-256-gcm",
        backend: "local-db",
        engine: "transit",
        path: "demo/aead-key",
        writable: true,
        missing: "generate",
        description: "Encrypts backups; the agent owns every nonce",
      },
      "demo.app.db_password": {
        class: "value",
        backend: "local-db",
        path: "demo/app/db-password",
        writable: true,
        missing: "generate",
        generate: { format: "ascii-printable", bytes: 24 },
        description: "Database password of the demo app, generated at first start",
      },
      "demo.app.api_token": {
        class: "value",
        backend: "local-db",
        path: "demo/app/api-token",
        writable: true,
        missing: "warn",
        description: "An API token the operator sets with `basil set`",
      },
    },
  };
}

function policyJson(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { "current-user": { anyOf: [{ kind: "unix", uid }] } },
    roles: {
      "demo-user": ["list", "get_public_key", "sign", "verify", "encrypt", "decrypt", "mint"],
      "demo-values": ["get", "set", "rotate"],
    },
    rules: [
      {
        id: "current-user-can-use-demo-keys",
        subjects: ["current-user"],
        action: ["role:demo-user"],
        target: ["demo.*"],
        comment: "Use the demo keys in place: sign, verify, encrypt, decrypt, mint.",
      },
      {
        id: "current-user-can-manage-demo-app-values",
        subjects: ["current-user"],
        action: ["role:demo-values"],
        target: ["demo.app.*"],
        comment: "Read, set and rotate the demo app's values (Tier 1).",
      },
    ],
    config: {
      names: { users: { [String(uid)]: "demo-user" } },
      memberships: { [String(uid)]: [] },
    },
  };
}

function configToml(p: DemoPaths): string {
  const q = (s: string) => JSON.stringify(s);
  return `# Written by \`basil demo\`. Start the agent with: basil agent -c ${p.config}
catalog = ${q(p.catalog)}
policy = ${q(p.policy)}
bundle = ${q(p.bundle)}
socket = ${q(p.socket)}
socket-mode = "0600"
audit-log = ${q(p.audit)}

[unlock]
unlock-passphrase-file = ${q(p.passphrase)}
# Demo only: keep the passphrase file so the agent can be restarted.
# In production leave this out: the agent wipes the file after reading it.
unlock-passphrase-no-wipe = true
strict-bundle-perms = true
`;
}

/** Writes every file of the workdir and seals the bundle. */
export async function scaffold(p: DemoPaths, uid: number): Promise<void> {
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + "\n");
  writeFileAtomic(p.catalog, json(catalogJson(p)), { mode: 0o644 });
  writeFileAtomic(p.policy, json(policyJson(uid)), { mode: 0o644 });
  writeFileAtomic(p.config, new TextEncoder().encode(configToml(p)), { mode: 0o644 });
  const pass = crypto.getRandomValues(new Uint8Array(24));
  const passHex = new TextEncoder().encode(toHex(pass));
  const dek = crypto.getRandomValues(new Uint8Array(32));
  // The DEK file holds exactly 32 raw bytes; avoid a trailing LF/CR byte.
  if (dek[31] === 0x0a || dek[31] === 0x0d) dek[31] = 0x00;
  try {
    writeFileAtomic(p.passphrase, passHex);
    writeFileAtomic(p.dek, dek);
  } finally {
    pass.fill(0);
    passHex.fill(0);
    dek.fill(0);
  }
  await createBundleFile(
    p.bundle,
    planFromFlags(
      [`passphrase:file=${p.passphrase}`],
      [`id=local-db,type=db-keystore,path=${p.db},dek-file=${p.dek}`],
    ),
  );
}
