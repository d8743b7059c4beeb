// deno-lint-ignore-file no-console
/**
 * Recomputes nix/package.nix `recordedDeps` after deno.lock changes: installs
 * the npm dependencies of cli.ts and main.ts into a scratch copy with
 * `deno install --frozen`, hashes node_modules with `nix-hash` (the NAR hash a
 * fixed-output derivation checks), and writes the lock's sha256 and the SRI
 * hash into package.nix. Run: deno run -A tools/update_nix_deps.ts
 * @module
 */

import { fromHex, toBase64, toHex } from "../lib/core/encoding.ts";

const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const run = async (cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) => {
  const o = await new Deno.Command(cmd, { args, cwd, env, stderr: "inherit" }).output();
  if (o.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed`);
  return new TextDecoder().decode(o.stdout).trim();
};
const tmp = await Deno.makeTempDir({ prefix: "basil-nixdeps-" });
try {
  for (const f of ["deno.json", "deno.lock", "cli.ts", "main.ts"]) {
    await Deno.copyFile(`${root}/${f}`, `${tmp}/${f}`);
  }
  for (const d of ["lib", "ffi"]) await run("cp", ["-r", `${root}/${d}`, `${tmp}/${d}`], root);
  await run("deno", ["install", "--frozen", "--quiet", "--entrypoint", "cli.ts", "main.ts"], tmp);
  const hex = await run("nix-hash", ["--type", "sha256", "node_modules"], tmp, {
    NIX_CONFIG: "build-users-group =",
    PATH: Deno.env.get("PATH") ?? "",
  });
  const sri = `sha256-${toBase64(fromHex(hex))}`;
  const lockHex = toHex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", Deno.readFileSync(`${root}/deno.lock`))),
  );
  const pkg = `${root}/nix/package.nix`;
  const text = Deno.readTextFileSync(pkg)
    .replace(/lockSha256 = "[0-9a-f]{64}";/, `lockSha256 = "${lockHex}";`)
    .replace(/(recordedDeps = \{[^}]*?hash = )"sha256-[A-Za-z0-9+/=]+";/s, `$1"${sri}";`);
  Deno.writeTextFileSync(pkg, text);
  console.log(`recordedDeps: lockSha256 = ${lockHex}, hash = ${sri}`);
} finally {
  await Deno.remove(tmp, { recursive: true });
}
