/**
 * The Vault/OpenBao double checked by an independent client: Debian's
 * python3-hvac drives every endpoint Basil uses and parses the answers with
 * its own methods; python3-cryptography checks signatures, imports and
 * certificates (tests/fixtures/py/hvac_fidelity.py; hvac_fidelity_extra.py for
 * the PKI reads served without a token and AppRole custom-secret-id).
 */

import assert from "node:assert/strict";
import { startConfiguredDouble } from "../fakes/vault/server.ts";
import { ROOT } from "../helpers/cli.ts";
import { PYTHON } from "../helpers/python.ts";

/** Runs one hvac script against a fresh configured double; returns how many checks passed. */
async function hvacChecks(script: string): Promise<number> {
  const d = await startConfiguredDouble();
  try {
    const out = await new Deno.Command(PYTHON, {
      args: [`${ROOT}/tests/fixtures/py/${script}`, d.addr, d.rootToken],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    const result = JSON.parse(text.split("\n").pop()!) as { passed: number; failed: string[] };
    assert.deepEqual(result.failed, [], new TextDecoder().decode(out.stderr));
    assert.equal(out.code, 0);
    return result.passed;
  } finally {
    await d.close();
  }
}

Deno.test("hvac drives every endpoint Basil uses on the vault double", async () => {
  assert.ok(await hvacChecks("hvac_fidelity.py") >= 17);
});

Deno.test("hvac: unauthenticated PKI reads and AppRole custom-secret-id on the double", async () => {
  assert.equal(await hvacChecks("hvac_fidelity_extra.py"), 2);
});
