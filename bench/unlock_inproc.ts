// deno-lint-ignore-file no-console
/**
 * Unlock alone, in a fresh process, as the agent runs it at start
 * (`unlockBundle` of lib/seal/unlock.ts: read and decode the bundle, epoch
 * check, read the secret files, build the methods, open the slot, advance
 * the sidecar, wipe). Its Argon2id is the process's first hash-wasm call,
 * as in the agent. Prints one JSON line: `import_ms` (the dynamic import of
 * the unlock module graph), `unlock_ms`, and the method that opened.
 *
 *   deno run … bench/unlock_inproc.ts unlock '<{"bundlePath", "unlock": UnlockSettings}>'
 *   deno run … bench/unlock_inproc.ts open-x25519 '<{"bundlePath", "identity"}>'
 *
 * `open-x25519` opens a bundle's age slot with an X25519 identity file, as
 * `basil bundle verify --open age-yubikey:identity=F` does (the agent has no
 * setting for an identity file; informational).
 * @module
 */

const [mode, json] = Deno.args;
if (!mode || !json) {
  console.error("usage: unlock_inproc.ts unlock|open-x25519 <json>");
  Deno.exit(2);
}
const o = JSON.parse(json);
let opened: string | undefined;
const logger = {
  log: (_level: string, msg: string, fields?: Record<string, unknown>) => {
    if (msg === "unlock slot opened") opened = String(fields?.method);
  },
};

if (mode === "unlock") {
  const t0 = performance.now();
  const { unlockBundle } = await import("../lib/seal/unlock.ts");
  const { wipeCreds } = await import("../lib/seal/creds.ts");
  const t1 = performance.now();
  const creds = await unlockBundle({ bundlePath: o.bundlePath, unlock: o.unlock, logger });
  const t2 = performance.now();
  wipeCreds(creds);
  console.log(JSON.stringify({
    import_ms: +(t1 - t0).toFixed(2),
    unlock_ms: +(t2 - t1).toFixed(2),
    method: opened,
  }));
} else if (mode === "open-x25519") {
  const t0 = performance.now();
  const { decodeBundle } = await import("../lib/seal/format.ts");
  const { openBundle } = await import("../lib/seal/bundle.ts");
  const { loadOpeners, parseOpenSpec } = await import("../lib/seal/slot_spec.ts");
  const t1 = performance.now();
  const bundle = decodeBundle(Deno.readFileSync(o.bundlePath), o.bundlePath);
  const openers = await loadOpeners([parseOpenSpec(`age-yubikey:identity=${o.identity}`)]);
  const r = await openBundle(bundle, o.bundlePath, openers, logger);
  const t2 = performance.now();
  r.wipe();
  for (const m of openers) m.dispose();
  console.log(JSON.stringify({
    import_ms: +(t1 - t0).toFixed(2),
    unlock_ms: +(t2 - t1).toFixed(2),
    method: opened,
  }));
} else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
