/**
 * writeFileAtomic: 0600 by default, replaces atomically, and with
 * `createNew` never replaces an existing file (no check-then-write window).
 */

import assert from "node:assert/strict";
import { writeFileAtomic } from "../../../lib/core/fs.ts";

const enc = new TextEncoder();

Deno.test("writeFileAtomic: 0600, replaces; createNew refuses an existing path and leaves it intact", () => {
  const dir = Deno.makeTempDirSync({ prefix: "basil-fs-" });
  try {
    const p = `${dir}/seed`;
    writeFileAtomic(p, enc.encode("one"));
    assert.equal(Deno.statSync(p).mode! & 0o777, 0o600);
    writeFileAtomic(p, enc.encode("two"));
    assert.equal(Deno.readTextFileSync(p), "two");

    assert.throws(
      () => writeFileAtomic(p, enc.encode("three"), { createNew: true }),
      Deno.errors.AlreadyExists,
    );
    assert.equal(Deno.readTextFileSync(p), "two", "the existing file is untouched");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["seed"], "no temp left");

    const q = `${dir}/fresh`;
    writeFileAtomic(q, enc.encode("new"), { createNew: true, mode: 0o644 });
    assert.equal(Deno.readTextFileSync(q), "new");
    assert.equal(Deno.statSync(q).mode! & 0o777, 0o644);
    assert.equal(Deno.statSync(q).nlink, 1, "the temp link is gone");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
