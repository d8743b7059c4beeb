// deno-lint-ignore-file no-console
/**
 * The vault suite's backend (bench/vault.ts): the faithful OpenBao/Vault
 * double of tests/fakes/vault as its own process, set up as an operator
 * would for Basil: transit, KV v2 at `secret/`, an ACL policy `basil` on
 * `transit/*` and `secret/*`, and two AppRoles with that policy: `bench`
 * (tokens of 1 h, max 2 h: no renewal during a latency run) and
 * `bench-short` (tokens of `shortTtl`/`shortMaxTtl` seconds: renewals and
 * re-logins under load).
 *
 * stdout, one JSON line once listening: `{"addr", "roles": {name:
 * {"role_id", "secret_id"}}}`; the root token is written to `<tokenFile>`
 * (mode 0600), never to stdout or argv. Each `stats` line on stdin is
 * answered with one JSON line `{"logins", "renewals", "hits": {"METHOD
 * path": n}}` (the double's own counters). Stops on SIGTERM or stdin EOF.
 *
 *   deno run … bench/vault_double.ts <tokenFile> [shortTtl] [shortMaxTtl]
 * @module
 */

import { startConfiguredDouble } from "../tests/fakes/vault/server.ts";
import { lines } from "./common.ts";

const [tokenFile, shortTtl = "6", shortMaxTtl = "15"] = Deno.args;
if (!tokenFile) {
  console.error("usage: vault_double.ts <tokenFile> [shortTtl] [shortMaxTtl]");
  Deno.exit(2);
}
const d = await startConfiguredDouble();
const call = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${d.addr}/v1/${path}`, {
    method,
    headers: { "X-Vault-Token": d.rootToken },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`double set-up ${method} ${path}: ${res.status} ${text}`);
  return text === "" ? undefined : JSON.parse(text);
};
await call("POST", "sys/policies/acl/basil", {
  policy: 'path "transit/*" { capabilities = ["create", "read", "update"] }\n' +
    'path "secret/*" { capabilities = ["create", "read", "update"] }',
});
const roles: Record<string, { role_id: string; secret_id: string }> = {};
for (
  const [name, ttl, maxTtl] of [
    ["bench", 3600, 7200],
    ["bench-short", Number(shortTtl), Number(shortMaxTtl)],
  ] as const
) {
  await call("POST", `auth/approle/role/${name}`, {
    token_ttl: ttl,
    token_max_ttl: maxTtl,
    token_policies: ["basil"],
  });
  roles[name] = {
    role_id: (await call("GET", `auth/approle/role/${name}/role-id`)).data.role_id,
    secret_id: (await call("POST", `auth/approle/role/${name}/secret-id`)).data.secret_id,
  };
}
Deno.writeTextFileSync(tokenFile, d.rootToken, { mode: 0o600 });
console.log(JSON.stringify({ addr: d.addr, roles }));

const stop = async () => {
  await d.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
for await (const line of lines(Deno.stdin.readable)) {
  if (line.trim() !== "stats") continue;
  console.log(JSON.stringify({
    logins: d.auth.stats.logins,
    renewals: d.auth.stats.renewals,
    hits: Object.fromEntries(d.hits),
  }));
}
await stop();
