/**
 * `deno task basil` support: INIT_CWD moves the CLI only when it runs in the
 * project root (where deno task runs it), never because some other tool
 * (npm, yarn, a stray shell export) left INIT_CWD behind.
 */

import assert from "node:assert/strict";
import { taskCallerDir } from "../../../lib/cli/task_cwd.ts";

const ROOT = "/src/basil/";
const same = (p: string) => p.replace(/\/+$/, "");

Deno.test("INIT_CWD is honoured when running in the project root (deno task)", () => {
  assert.equal(
    taskCallerDir({
      initCwd: "/home/op/work",
      cwd: "/src/basil",
      projectRoot: ROOT,
      realPath: same,
    }),
    "/home/op/work",
  );
});

Deno.test("a stray INIT_CWD is ignored outside the project root", () => {
  assert.equal(
    taskCallerDir({
      initCwd: "/home/op/npm-proj",
      cwd: "/home/op/elsewhere",
      projectRoot: ROOT,
      realPath: same,
    }),
    undefined,
  );
  assert.equal(
    taskCallerDir({
      initCwd: "/home/op/npm-proj",
      cwd: "/src/basil/lib",
      projectRoot: ROOT,
      realPath: same,
    }),
    undefined,
    "a subdirectory of the root is not the root",
  );
});

Deno.test("unset, empty or relative INIT_CWD never moves the CLI", () => {
  for (const initCwd of [undefined, "", "relative/dir"]) {
    assert.equal(
      taskCallerDir({ initCwd, cwd: "/src/basil", projectRoot: ROOT, realPath: same }),
      undefined,
      String(initCwd),
    );
  }
});

Deno.test("the root comparison resolves symlinks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "basil-taskcwd-" });
  try {
    Deno.mkdirSync(`${dir}/real`);
    Deno.symlinkSync(`${dir}/real`, `${dir}/link`);
    assert.equal(
      taskCallerDir({
        initCwd: "/x",
        cwd: Deno.realPathSync(`${dir}/real`),
        projectRoot: `${dir}/link/`,
      }),
      "/x",
    );
    Deno.mkdirSync(`${dir}/other`);
    assert.equal(
      taskCallerDir({ initCwd: "/x", cwd: `${dir}/other`, projectRoot: `${dir}/link/` }),
      undefined,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
