/**
 * writeFileAtomic: 0600 by default, replaces atomically, and with
 * `createNew` never replaces an existing file (no check-then-write window).
 * readCheckedFile / readSecretFile / wipeFile: checks are made on the held
 * handle, so a rename or symlink onto the path cannot redirect the use.
 */

import assert from "node:assert/strict";
import { InputError } from "../../../lib/core/errors.ts";
import {
  readCheckedFile,
  readSecretFile,
  wipeFile,
  writeFileAtomic,
} from "../../../lib/core/fs.ts";

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

Deno.test("readCheckedFile: the check sees the opened file, and a swap after it cannot change what is read", () => {
  const dir = Deno.makeTempDirSync({ prefix: "basil-fs-" });
  try {
    const p = `${dir}/bundle`;
    Deno.writeTextFileSync(p, "original", { mode: 0o600 });
    Deno.writeTextFileSync(`${dir}/other`, "swapped in", { mode: 0o644 });
    let checkedMode = 0;
    const data = readCheckedFile(p, (st) => {
      checkedMode = st.mode! & 0o777;
      // Between the check and the read, another file is renamed onto the path.
      Deno.renameSync(`${dir}/other`, p);
    });
    assert.equal(checkedMode, 0o600);
    assert.equal(new TextDecoder().decode(data), "original", "the checked handle is what is read");
    assert.equal(Deno.readTextFileSync(p), "swapped in");

    assert.throws(
      () =>
        readCheckedFile(p, () => {
          throw new RangeError("refused");
        }),
      RangeError,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readSecretFile: mode and type come from the opened handle; a symlinked 0600 file is judged as its target", () => {
  const dir = Deno.makeTempDirSync({ prefix: "basil-fs-" });
  try {
    Deno.writeTextFileSync(`${dir}/wide`, "s3cret\n", { mode: 0o644 });
    Deno.chmodSync(`${dir}/wide`, 0o644);
    Deno.symlinkSync(`${dir}/wide`, `${dir}/link`);
    assert.throws(
      () => readSecretFile(`${dir}/link`, { what: "x", requireOwnerOnly: true }),
      (e: unknown) => e instanceof InputError && e.token === "secret_file_mode",
    );
    Deno.chmodSync(`${dir}/wide`, 0o600);
    const s = readSecretFile(`${dir}/link`, {
      what: "x",
      requireOwnerOnly: true,
      stripNewline: true,
    });
    assert.equal(new TextDecoder().decode(s.expose()), "s3cret");
    s.wipe();
    assert.throws(
      () => readSecretFile(dir, { what: "x", requireOwnerOnly: true }),
      (e: unknown) => e instanceof InputError && e.token === "secret_file_unreadable",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("wipeFile: zeroes through the opened handle, then unlinks", () => {
  const dir = Deno.makeTempDirSync({ prefix: "basil-fs-" });
  try {
    const p = `${dir}/pass`;
    Deno.writeTextFileSync(p, "x".repeat(70_000), { mode: 0o600 });
    // A second name for the same inode shows what was written to it.
    Deno.linkSync(p, `${dir}/witness`);
    assert.equal(wipeFile(p), undefined);
    assert.throws(() => Deno.lstatSync(p), Deno.errors.NotFound);
    const left = Deno.readFileSync(`${dir}/witness`);
    assert.equal(left.length, 70_000);
    assert.ok(left.every((b) => b === 0), "every byte zeroed");
    assert.equal(wipeFile(p), "no such file");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("wipeFile: a symlink on the path cannot redirect the zeros or the unlink", () => {
  const dir = Deno.makeTempDirSync({ prefix: "basil-fs-" });
  try {
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "precious", { mode: 0o600 });
    const p = `${dir}/pass`;
    Deno.symlinkSync(victim, p);
    assert.match(wipeFile(p) ?? "", /symlink/);
    assert.equal(Deno.readTextFileSync(victim), "precious", "the target is untouched");
    assert.ok(Deno.lstatSync(p).isSymlink, "and the link itself is left for the operator");
    assert.equal(wipeFile(dir), "is a directory");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
