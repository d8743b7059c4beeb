/**
 * What a test needs from the machine: real peers (programs from apt), root,
 * a permission, a library. A test never hides a missing need:
 * - outside CI it is reported `ignored`, with the reason in its own name
 *   (`… [ignored: needs openssl (not on PATH)]`), never `ok`;
 * - in CI (`CI=true`) it runs and fails at once, naming what is missing.
 *
 * {@linkcode gated} wraps a `Deno.test` definition (or a `t.step` one, for an
 * oracle check inside a larger test); {@linkcode needs} is the older spread
 * form (`...needs("openssl")`), which can only print its reason before the
 * file's tests run.
 */

/** True when running in CI, where a missing need is a failure. */
export const IN_CI = Deno.env.get("CI") === "true";

/** Whether `cmd` is on PATH (or an absolute executable). */
export function hasCommand(cmd: string): boolean {
  if (cmd.startsWith("/")) {
    try {
      return Deno.statSync(cmd).isFile;
    } catch {
      return false;
    }
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return true;
    } catch { /* next */ }
  }
  return false;
}

/** Whether the tests run as root (needed to switch uids); false without `--allow-sys=uid`. */
export const IS_ROOT =
  Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted" &&
  Deno.uid() === 0;

/** A need that is not a command on PATH: whether it is met, and what it is. */
export interface Requirement {
  readonly met: boolean;
  /** Completes "needs …", e.g. `root (to create a user and switch uids)`. */
  readonly what: string;
}

/** A command name (on PATH or absolute), or any other {@linkcode Requirement}. */
export type Need = string | Requirement;

/** Root, for tests that create a user and call as another uid. */
export const ROOT: Requirement = { met: IS_ROOT, what: "root (to create a user and switch uids)" };

/** A Deno permission this test process must have been granted. */
export function permission(name: "run" | "ffi" | "sys"): Requirement {
  return {
    met: Deno.permissions.querySync({ name }).state === "granted",
    what: `--allow-${name}`,
  };
}

/** The needs in `needs` that are not met, as "needs …" phrases. */
export function missingNeeds(needs: readonly Need[]): string[] {
  return needs.flatMap((n) =>
    typeof n === "string" ? (hasCommand(n) ? [] : [`${n} (not on PATH)`]) : (n.met ? [] : [n.what])
  );
}

/** A `Deno.test` or `t.step` definition. */
interface Gatable {
  name: string;
  ignore?: boolean;
  fn: (t: Deno.TestContext) => void | Promise<void>;
}

/**
 * `def`, gated on `needs`: unchanged when all are met; outside CI, ignored
 * with the reason appended to its name; in CI, run with a body that fails
 * naming what is missing (the original body is not run).
 */
export function gated<T extends Gatable>(needs: readonly Need[], def: T): T {
  const missing = missingNeeds(needs);
  if (missing.length === 0) return def;
  const reason = `needs ${missing.join(", ")}`;
  if (IN_CI) {
    return {
      ...def,
      fn: () => {
        throw new Error(`CI=true and this test ${reason}`);
      },
    };
  }
  return { ...def, name: `${def.name} [ignored: ${reason}]`, ignore: true };
}

/**
 * `Deno.test` options for a test that needs `peers` (spread form): ignored
 * with a SKIP line naming them when one is missing outside CI; in CI the test
 * runs and fails loudly. Prefer {@linkcode gated}, which puts the reason on
 * the test's own line.
 */
export function needs(...peers: Need[]): { ignore: boolean } {
  const missing = missingNeeds(peers);
  if (missing.length === 0 || IN_CI) return { ignore: false };
  // deno-lint-ignore no-console
  console.log(`SKIP: needs ${missing.join(", ")}`);
  return { ignore: true };
}
