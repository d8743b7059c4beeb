// deno-lint-ignore-file no-console
/**
 * The vault suite's floor (bench/vault.ts): the double's own HTTP round
 * trip for the operation the broker forwards, made the way the broker's
 * vault backend makes it (lib/backends/vault/http.ts: `fetch`, the token in
 * `X-Vault-Token`, JSON body, the whole answer read and parsed), with the
 * h.ts loop: c workers, back-to-back requests, one latency sample each.
 *
 * - `sign <key>`: `POST /v1/transit/sign/<key>` with `{"input": <32-byte
 *   message, base64>, "key_version": 1}`; checks `data.signature`.
 * - `get <path>`: `GET /v1/<path>` (KV v2, e.g. `secret/data/bench/value`);
 *   checks `data.data.value`.
 *
 *   vault_client.ts measure <addr> <tokenFile> sign|get <key|path> <conc> <warmMs> <runMs>
 *
 * Prints one JSON summary line (h.ts).
 * @module
 */

import { benchConc } from "./h.ts";

const [mode, addr, tokenFile, op, target, concS, warmS, runS] = Deno.args;
if (mode !== "measure" || !addr || !tokenFile || (op !== "sign" && op !== "get") || !target) {
  console.error(
    "usage: vault_client.ts measure <addr> <tokenFile> sign|get <key|path> <conc> <warmMs> <runMs>",
  );
  Deno.exit(2);
}
const token = Deno.readTextFileSync(tokenFile).trim();
const message = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const body = new TextEncoder().encode(JSON.stringify({ input: message, key_version: 1 }));
const url = op === "sign" ? `${addr}/v1/transit/sign/${target}` : `${addr}/v1/${target}`;

async function once(): Promise<number> {
  const res = await fetch(url, {
    method: op === "sign" ? "POST" : "GET",
    headers: {
      "Accept": "application/json",
      "X-Vault-Token": token,
      ...(op === "sign" ? { "Content-Type": "application/json" } : {}),
    },
    ...(op === "sign" ? { body } : {}),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${new TextDecoder().decode(bytes)}`);
  const json = JSON.parse(new TextDecoder().decode(bytes));
  const ok = op === "sign"
    ? typeof json?.data?.signature === "string"
    : typeof json?.data?.data?.value === "string";
  if (!ok) throw new Error("unexpected answer");
  return bytes.length;
}

const first = await once();
const r = await benchConc(`${op} ${target}`, once, Number(concS ?? 1), {
  warmMs: Number(warmS ?? 1000),
  runMs: Number(runS ?? 3000),
  extra: { resp_bytes: first },
});
console.log(JSON.stringify(r));
