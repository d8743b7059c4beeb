/**
 * Test helper: a private copy of the fake `op` (tests/fakes/op/op) in a
 * temp directory, `<dir>/bin/op`, with its state in `<dir>/state` (found
 * from the script's own path, so it works under the agent's emptied
 * environment too).
 */

const SCRIPT = new URL("./op", import.meta.url).pathname;

/** What a fake op run recorded (names of env variables, never values). */
export interface OpCall {
  readonly argv: string[];
  readonly env: string[];
  readonly auth: "token" | "account" | null;
}

/** Settings of the fake's account. */
export interface FakeOpConfig {
  vaults?: string[];
  accounts?: string[];
  tokens?: string[];
  fail?: "rate_limited" | "unreachable" | "not_signed_in" | null;
}

/** A fake op installation. */
export interface FakeOp {
  readonly dir: string;
  /** Directory holding `op` (put it first on PATH). */
  readonly binDir: string;
  /** Absolute path of the `op` program. */
  readonly opPath: string;
  readonly stateDir: string;
  configure(cfg: FakeOpConfig): Promise<void>;
  /** Every recorded call so far. */
  calls(): Promise<OpCall[]>;
  /** The stored items (raw JSON). */
  items(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** Installs a fresh fake op. */
export async function installFakeOp(cfg: FakeOpConfig = {}): Promise<FakeOp> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "basil-fake-op-" }));
  const binDir = `${dir}/bin`;
  const stateDir = `${dir}/state`;
  await Deno.mkdir(binDir);
  await Deno.mkdir(stateDir);
  const opPath = `${binDir}/op`;
  await Deno.copyFile(SCRIPT, opPath);
  await Deno.chmod(opPath, 0o755);
  let current: FakeOpConfig = { vaults: ["Private"], accounts: [], tokens: [], fail: null };
  const fake: FakeOp = {
    dir,
    binDir,
    opPath,
    stateDir,
    async configure(c) {
      current = { ...current, ...c };
      await Deno.writeTextFile(`${stateDir}/config.json`, JSON.stringify(current));
    },
    async calls() {
      let text = "";
      try {
        text = await Deno.readTextFile(`${stateDir}/calls.jsonl`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as OpCall);
    },
    async items() {
      try {
        return JSON.parse(await Deno.readTextFile(`${stateDir}/items.json`));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return [];
        throw e;
      }
    },
    async close() {
      await Deno.remove(dir, { recursive: true });
    },
  };
  await fake.configure(cfg);
  return fake;
}
