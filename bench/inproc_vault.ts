// deno-lint-ignore-file no-console
/**
 * Attribution for the vault suite (bench/vault.ts): the two operations in
 * process against the running double, layer by layer, with the h.ts loop
 * (0.5 s warm-up, then `runMs`). The backend is the agent's own
 * (lib/backends/vault `openVaultBackend`, here with the double's root token
 * as a `VaultToken`), the broker built around it as lib/daemon.ts builds it
 * (the vault suite's catalog and policy, an audit file). One JSON line per
 * series, named `<op>:<series>`:
 *
 * - `fetch`: the HTTP round trip alone (as bench/vault_client.ts: `fetch`,
 *   read, `JSON.parse`), in this process;
 * - `backend` (and for Sign `backend.info`): the backend call(s) the broker
 *   makes: `kv.read` (+ wipe); `transit.info` and `transit.sign`;
 * - `broker`: lib/broker in one audited request (`runCall`);
 * - `adapter`: the transport's method without HTTP/2.
 *
 *   deno run … bench/inproc_vault.ts <runMs> <addr> <tokenFile>
 * @module
 */

import { openAuditFile } from "../lib/audit/sink.ts";
import { openVaultBackend } from "../lib/backends/vault/mod.ts";
import { runCall } from "../lib/broker/call.ts";
import type { BrokerDeps } from "../lib/broker/deps.ts";
import { EventBus } from "../lib/broker/events.ts";
import { getSecret } from "../lib/broker/secrets.ts";
import { sign } from "../lib/broker/signing.ts";
import { GenerationHolder } from "../lib/broker/state.ts";
import { loadCatalog } from "../lib/catalog/load.ts";
import { nullLogger } from "../lib/core/log.ts";
import { SecretBytes } from "../lib/core/secret.ts";
import { readHostUnixNames } from "../lib/core/unix_names.ts";
import { loadPolicy } from "../lib/policy/load.ts";
import type { PeerIdentity } from "../lib/policy/pdp.ts";
import { secretService } from "../lib/service/secret_service.ts";
import { signingService } from "../lib/service/signing_service.ts";
import type { Summary } from "./h.ts";
import { bench } from "./h.ts";
import {
  BENCH_KEY,
  ED25519_OP,
  getSecretRequest,
  KV_PATH,
  methodAdapter,
  tier2Payload,
  tier2Request,
  TRANSIT_KEY,
  transportPolicy,
  vaultCatalog,
} from "./setup.ts";

const [runS, addr, tokenFile] = Deno.args;
if (!runS || !addr || !tokenFile) {
  console.error("usage: inproc_vault.ts <runMs> <addr> <tokenFile>");
  Deno.exit(2);
}
const o = { warmMs: 500, runMs: Number(runS) };
const token = Deno.readTextFileSync(tokenFile).trim();
const dir = await Deno.makeTempDir({ prefix: "basil-bench-inproc-vault-" });
const enc = new TextEncoder();
const backend = await openVaultBackend({
  name: "bao",
  addr,
  cred: { type: "VaultToken", token: SecretBytes.copyOf(enc.encode(token)) },
  transitMount: "transit",
  jwt: { mount: "jwt", role: "", audience: "openbao", ttlSecs: 300 },
  graceVersions: 1,
  timeoutMs: 10_000,
  logger: nullLogger,
});
const audit = openAuditFile(`${dir}/audit.jsonl`, nullLogger);
try {
  const names = readHostUnixNames();
  const { catalog } = loadCatalog(JSON.stringify(vaultCatalog(addr)), `${dir}/catalog.json`);
  const uid = Deno.uid()!;
  const policy = loadPolicy(JSON.stringify(transportPolicy(uid)), `${dir}/policy.json`, { names });
  const deps: BrokerDeps = {
    state: new GenerationHolder({ id: 1, catalog, policy }),
    backends: new Map([["bao", backend]]),
    audit,
    events: new EventBus(),
    logger: nullLogger,
    limits: { maxPayloadSize: 65536, maxEncryptSize: 65536, graceVersions: 1 },
    hostUserName: (u) => names.userOf(u),
    now: () => new Date(),
  };
  const peer: PeerIdentity = { uid, gid: Deno.gid()!, pid: Deno.pid };
  const live = new AbortController().signal;
  const rawFetch =
    (method: "GET" | "POST", path: string, body?: Uint8Array<ArrayBuffer>) => async () => {
      const res = await fetch(`${addr}/v1/${path}`, {
        method,
        headers: {
          "Accept": "application/json",
          "X-Vault-Token": token,
          ...(body ? { "Content-Type": "application/json" } : {}),
        },
        ...(body ? { body } : {}),
      });
      const json = JSON.parse(new TextDecoder().decode(await res.arrayBuffer()));
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      return json;
    };
  const payload = tier2Payload(ED25519_OP);
  const signBody = enc.encode(
    JSON.stringify({ input: btoa(String.fromCharCode(...payload)), key_version: 1 }),
  );
  const getReq = getSecretRequest();
  const signReq = tier2Request(ED25519_OP, payload);
  const get = methodAdapter(secretService(deps), "getSecret", peer, nullLogger);
  const signer = methodAdapter(signingService(deps), "sign", peer, nullLogger);
  const transit = backend.transit!;
  const out: Summary[] = [
    await bench("getsecret:fetch", rawFetch("GET", KV_PATH), o),
    await bench("getsecret:backend", async () => {
      (await backend.kv!.read(KV_PATH))!.value.wipe();
    }, o),
    await bench("getsecret:broker", async () => {
      const v = await runCall(deps, peer, live, (c) => getSecret(deps, c, BENCH_KEY, undefined));
      v.value.wipe();
    }, o),
    await bench("getsecret:adapter", () => get(getReq), o),
    await bench("sign-ed25519:fetch", rawFetch("POST", `transit/sign/${TRANSIT_KEY}`, signBody), o),
    await bench("sign-ed25519:backend.info", () => transit.info(TRANSIT_KEY), o),
    await bench(
      "sign-ed25519:backend",
      () => transit.sign(TRANSIT_KEY, ED25519_OP.keyType, payload, 1),
      o,
    ),
    await bench(
      "sign-ed25519:broker",
      () => runCall(deps, peer, live, (c) => sign(deps, c, ED25519_OP.keyId, payload)),
      o,
    ),
    await bench("sign-ed25519:adapter", () => signer(signReq), o),
  ];
  for (const s of out) console.log(JSON.stringify(s));
} finally {
  backend.close();
  audit.close();
  Deno.removeSync(dir, { recursive: true });
}
