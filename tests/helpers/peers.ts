/**
 * Real peers (programs from apt) for tests. In CI (`CI=true`) a missing peer
 * fails the test; elsewhere the test is skipped with a visible reason.
 */

/** True when running in CI, where a missing peer is a failure. */
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

/**
 * `Deno.test` options for a test that needs `peers`: ignored with a SKIP line
 * when a peer is missing outside CI; in CI the test runs and fails loudly.
 */
export function needs(...peers: string[]): { ignore: boolean } {
  const missing = peers.filter((p) => !hasCommand(p));
  if (missing.length === 0) return { ignore: false };
  if (IN_CI) return { ignore: false };
  // deno-lint-ignore no-console
  console.log(`SKIP: needs ${missing.join(", ")} (not on PATH)`);
  return { ignore: true };
}

/** Throws in CI (or returns false elsewhere) when a peer is missing. */
export function requirePeers(...peers: string[]): void {
  const missing = peers.filter((p) => !hasCommand(p));
  if (missing.length > 0) throw new Error(`missing real peer(s): ${missing.join(", ")}`);
}

/** Whether the tests run as root (needed to switch uids). */
export const IS_ROOT = Deno.uid() === 0;
