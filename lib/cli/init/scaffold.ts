/**
 * What `basil init` writes (contract §12): a catalog with one backend
 * `primary` and an example signing key, a policy letting the running user
 * sign with it, and the agent config; with `--from-sops`, one `value` stub
 * per sops secret (`missing: warn`, never its value) and a `sops-migrator`
 * rule. The bundle and every secret stay the operator's to create: init
 * prints the exact commands.
 * @module
 */

import { slugSegment, type SopsKey } from "./sops.ts";

/** The backend flavours of `--backend`. */
export const INIT_BACKENDS = ["openbao", "vault", "keystore"] as const;
/** One of {@linkcode INIT_BACKENDS}. */
export type InitBackend = typeof INIT_BACKENDS[number];
/** The unlock methods of `--unlock`. */
export const INIT_UNLOCKS = ["bip39", "passphrase", "tpm", "age-yubikey"] as const;
/** One of {@linkcode INIT_UNLOCKS}. */
export type InitUnlock = typeof INIT_UNLOCKS[number];

/** Everything init decides from its flags. */
export interface InitPlan {
  readonly dir: string;
  readonly backend: InitBackend;
  readonly unlock: InitUnlock;
  readonly addr: string;
  readonly transitMount: string;
  /** `--passphrase-file`, absolute (passphrase unlock only). */
  readonly passphraseFile: string | undefined;
  readonly socket: string;
  readonly uid: number;
  /** The sops file and its secret names, with `--from-sops`. */
  readonly sops: { readonly file: string; readonly keys: readonly SopsKey[] } | undefined;
}

/** The files init writes. */
export interface InitFiles {
  readonly catalog: string;
  readonly policy: string;
  readonly config: string;
  readonly bundle: string;
}

/** The paths under the plan's dir. */
export function initFiles(dir: string): InitFiles {
  return {
    catalog: `${dir}/catalog.json`,
    policy: `${dir}/policy.json`,
    config: `${dir}/basil-agent.toml`,
    bundle: `${dir}/bundle.sealed`,
  };
}

const isVault = (b: InitBackend) => b !== "keystore";

/** The catalog name and backend path of each sops secret. */
export function sopsStubs(p: InitPlan): { name: string; path: string; source: string }[] {
  const seen = new Map<string, string>();
  return (p.sops?.keys ?? []).map((k) => {
    const segs = k.map(slugSegment);
    const name = `sops.${segs.join(".")}`;
    const source = k.join("/");
    const clash = seen.get(name);
    if (clash !== undefined) {
      throw new Error(`sops secrets "${clash}" and "${source}" both become catalog key ${name}`);
    }
    seen.set(name, source);
    const slug = segs.join("/");
    return { name, path: isVault(p.backend) ? `secret/data/sops/${slug}` : `sops/${slug}`, source };
  });
}

/** The catalog JSON. */
export function initCatalog(p: InitPlan): unknown {
  const stubs = sopsStubs(p);
  const keystore = p.backend === "keystore";
  const engines = keystore || stubs.length > 0 ? ["transit", "kv2"] : ["transit"];
  const keys: Record<string, unknown> = {
    "example.signing_key": {
      class: "asymmetric",
      keyType: "ed25519",
      backend: "primary",
      engine: "transit",
      path: keystore ? "example/signing-key" : "example-signing-key",
      writable: true,
      missing: "generate",
      description: "Example Ed25519 signing key (created by the agent at its first start)",
    },
  };
  for (const s of stubs) {
    keys[s.name] = {
      class: "value",
      backend: "primary",
      path: s.path,
      writable: true,
      missing: "warn",
      description: `Migrated from sops (${s.source}); set its value with basil set`,
    };
  }
  return {
    schemaVersion: 1,
    backends: {
      primary: {
        kind: keystore ? "keystore" : "vault",
        addr: keystore ? `${p.dir}/keystore.db` : p.addr,
        engines,
        mintKeyTypes: ["ed25519"],
      },
    },
    keys,
  };
}

/** The policy JSON. */
export function initPolicy(p: InitPlan): unknown {
  const rules: unknown[] = [{
    id: "running-user-may-sign-example-key",
    subjects: ["init.user"],
    action: ["role:example-signer"],
    target: ["example.signing_key"],
    comment: "The user who ran basil init may sign with the example key.",
  }];
  const roles: Record<string, string[]> = {
    "example-signer": ["sign", "verify", "get_public_key"],
  };
  if (p.sops !== undefined) {
    roles["sops-values"] = ["get", "set", "list"];
    rules.push({
      id: "sops-migrator",
      subjects: ["init.user"],
      action: ["role:sops-values"],
      target: ["sops.*"],
      comment: `Read and set the values migrated from ${p.sops.file}.`,
    });
  }
  return {
    schemaVersion: 2,
    subjects: { "init.user": { anyOf: [{ kind: "unix", uid: p.uid }] } },
    roles,
    rules,
    config: {
      names: { users: { [String(p.uid)]: "init-user" } },
      memberships: { [String(p.uid)]: [] },
    },
  };
}

const q = (s: string) => JSON.stringify(s);

function unlockLines(p: InitPlan): string[] {
  switch (p.unlock) {
    case "passphrase":
      return [
        `unlock-passphrase-file = ${q(p.passphraseFile ?? "REPLACE_WITH_PASSPHRASE_FILE")}`,
        "# The agent wipes the passphrase file after reading it; to keep it (restarts",
        "# without re-provisioning), set: unlock-passphrase-no-wipe = true",
      ];
    case "bip39":
      return [
        `bip39-phrase-file = ${q("REPLACE_WITH_BIP39_PHRASE_FILE")}`,
        "# A file holding the 24 words (mode 0600). The agent always wipes it after reading.",
      ];
    case "tpm":
      return ["unlock-tpm = true"];
    case "age-yubikey":
      return ["age-yubikey = true"];
  }
}

/** The agent config TOML. */
export function initConfig(p: InitPlan): string {
  const f = initFiles(p.dir);
  const backendLines = isVault(p.backend)
    ? [`vault-addr = ${q(p.addr)}`, `transit-mount = ${q(p.transitMount)}`]
    : [`db-keystore-cipher = "aegis256"`];
  return [
    `# Written by \`basil init\`. Check it with: basil doctor -c ${f.config}`,
    `catalog = ${q(f.catalog)}`,
    `policy = ${q(f.policy)}`,
    `bundle = ${q(f.bundle)}`,
    `socket = ${q(p.socket)}`,
    `socket-mode = "0600"`,
    ...backendLines,
    "",
    "[unlock]",
    ...unlockLines(p),
    "strict-bundle-perms = true",
    "",
    "# A broker identity signs sealed-invocation responses (both keys or neither):",
    "# [broker-identity]",
    '# id = "basil://host.example/agent"',
    '# response-signing-key-id = "broker.response_signing"',
    "",
    "[invocation]",
    "enable = false",
    "",
  ].join("\n");
}

function slotSpec(p: InitPlan): string {
  switch (p.unlock) {
    case "passphrase":
      return `passphrase:file=${p.passphraseFile ?? "REPLACE_WITH_PASSPHRASE_FILE"}`;
    case "bip39":
      return "bip39";
    case "tpm":
      return "tpm";
    case "age-yubikey":
      return "age-yubikey:recipient=REPLACE_WITH_AGE_RECIPIENT";
  }
}

/** The printed next steps: exact commands, placeholders in REPLACE_WITH_… form. */
export function nextSteps(p: InitPlan, written: readonly string[]): string {
  const f = initFiles(p.dir);
  const cred = isVault(p.backend)
    ? `id=primary,type=${p.backend},token-file=REPLACE_WITH_TOKEN_FILE`
    : `id=primary,type=db-keystore,path=${p.dir}/keystore.db,dek-file=REPLACE_WITH_DEK_FILE`;
  const lines = [`Wrote ${written.join(", ")}`, "", "Next steps:"];
  let n = 1;
  const step = (text: string, ...cmds: string[]) => {
    lines.push(`  ${n++}. ${text}`, ...cmds.map((c) => `       ${c}`));
  };
  if (!isVault(p.backend)) {
    step(
      "Create the keystore's 32-byte data key (keep it secret, mode 0600):",
      "(umask 077; head -c 32 /dev/urandom > REPLACE_WITH_DEK_FILE)",
    );
  }
  if (p.unlock === "passphrase" && p.passphraseFile === undefined) {
    step("Put the unlock passphrase in a 0600 file and name it in the config and below.");
  }
  if (p.unlock === "bip39") {
    step(
      "Seal with a fresh BIP39 phrase (printed once): write its 24 words to a 0600 file",
      "and set bip39-phrase-file in the config to that file.",
    );
  }
  step(
    "Seal the backend credential into the bundle:",
    `basil bundle create ${f.bundle} --slot ${slotSpec(p)} --backend ${cred}`,
  );
  if (isVault(p.backend)) {
    const cli = p.backend === "openbao" ? "bao" : "vault";
    const cmds = [`${cli} secrets enable -path=${p.transitMount} transit`];
    if (p.sops !== undefined) cmds.push(`${cli} secrets enable -path=secret kv-v2`);
    step(`Enable the engines on ${p.addr}:`, ...cmds);
  }
  if (p.sops !== undefined) {
    step(
      `Copy each value from ${p.sops.file} (sops -d) into Basil, e.g.:`,
      ...sopsStubs(p).slice(0, 3).map((s) =>
        `sops -d --extract '${jsonPath(s.source)}' ${
          p.sops!.file
        } | basil --socket ${p.socket} set --key-id ${s.name} --value-file -`
      ),
    );
  }
  step("Check everything, the keys included:", `basil doctor --keys -c ${f.config}`);
  step("Start the agent:", `basil agent -c ${f.config}`);
  step(
    "Sign something:",
    `basil --socket ${p.socket} sign --key-id example.signing_key 'hello from basil'`,
  );
  return lines.join("\n") + "\n";
}

/** sops' `--extract` path of a secret (`["a"]["b"]`). */
function jsonPath(source: string): string {
  return source.split("/").map((s) => `[${JSON.stringify(s)}]`).join("");
}
