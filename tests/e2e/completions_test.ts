/**
 * `basil completions <shell>` and `basil man`: generated from the same
 * commander definitions, so every command (bundle subcommands included)
 * appears in each; each script parses in its shell (bash -n, zsh -n,
 * fish -n), the man page formats without warnings (groff -ww -z, man -l),
 * and docs/basil.1 is exactly what `basil man` prints now.
 */

import assert from "node:assert/strict";
import { basil, ROOT } from "../helpers/cli.ts";
import { gated } from "../helpers/peers.ts";

/** Every command path, from `basil --help` and `basil bundle --help`. */
async function commandNames(): Promise<{ top: string[]; bundle: string[] }> {
  const names = (help: string) =>
    help.split("Commands:\n")[1]!.split("\n").map((l) => /^ {2}([a-z][a-z0-9-]*)/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined && n !== "help");
  const top = await basil(["--help"]);
  const bundle = await basil(["bundle", "--help"]);
  return { top: names(top.stdout), bundle: names(bundle.stdout) };
}

async function script(shell: string): Promise<string> {
  const r = await basil(["completions", shell]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function syntaxCheck(cmd: string, args: string[], text: string, ext: string) {
  const file = await Deno.makeTempFile({ suffix: ext });
  try {
    Deno.writeTextFileSync(file, text);
    const o = await new Deno.Command(cmd, { args: [...args, file], stderr: "piped" }).output();
    assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
  } finally {
    Deno.removeSync(file);
  }
}

Deno.test("completions and man page name every command, bundle subcommands included", async () => {
  const { top, bundle } = await commandNames();
  for (const c of ["get", "doctor", "init", "reload", "audit", "completions", "man", "bundle"]) {
    assert.ok(top.includes(c), `${c} missing from --help`);
  }
  assert.ok(bundle.includes("create") && bundle.includes("promote"));
  const bash = await script("bash");
  const zsh = await script("zsh");
  const fish = await script("fish");
  const man = (await basil(["man"])).stdout;
  for (const c of top) {
    assert.ok(bash.includes(`':${c}') p='${c}'`), `bash lacks ${c}`);
    assert.ok(zsh.includes(`'${c}:`), `zsh lacks ${c}`);
    assert.ok(fish.includes(`-a '${c}'`), `fish lacks ${c}`);
    assert.ok(man.includes(`.SS "${c.replaceAll("-", "\\-")}"`), `man lacks ${c}`);
  }
  for (const c of bundle) {
    assert.ok(bash.includes(`'bundle:${c}') p='bundle ${c}'`), `bash lacks bundle ${c}`);
    assert.ok(fish.includes(`-n '__basil_is \\'bundle\\'' -a '${c}'`), `fish lacks bundle ${c}`);
    assert.ok(man.includes(`.SS "bundle ${c.replaceAll("-", "\\-")}"`), `man lacks bundle ${c}`);
  }
  // Option choices are offered as values.
  assert.ok(bash.includes(`'init|--backend')`) && bash.includes("openbao vault keystore"));
  const bad = await basil(["completions", "tcsh"]);
  assert.equal(bad.code, 2);
});

Deno.test(gated(["bash"], {
  name: "completions: the bash script parses and completes subcommands and option values",
  fn: async () => {
    const bash = await script("bash");
    await syntaxCheck("bash", ["-n"], bash, ".bash");
    const probe = `${bash}
COMP_WORDS=(basil bundle cr); COMP_CWORD=2; _basil; echo "1:\${COMPREPLY[*]}"
COMP_WORDS=(basil init --backend ""); COMP_CWORD=3; _basil; echo "2:\${COMPREPLY[*]}"
COMP_WORDS=(basil get --k); COMP_CWORD=2; _basil; echo "3:\${COMPREPLY[*]}"
`;
    const o = await new Deno.Command("bash", { args: ["-c", probe], stdout: "piped" }).output();
    const out = new TextDecoder().decode(o.stdout);
    assert.match(out, /^1:create$/m);
    assert.match(out, /^2:openbao vault keystore$/m);
    assert.match(out, /^3:--key-id$/m);
  },
}));

Deno.test(gated(["zsh"], {
  name: "completions: the zsh script parses (zsh -n)",
  fn: async () => await syntaxCheck("zsh", ["-n"], await script("zsh"), ".zsh"),
}));

Deno.test(gated(["fish"], {
  name: "completions: the fish script parses (fish -n)",
  fn: async () => await syntaxCheck("fish", ["-n"], await script("fish"), ".fish"),
}));

Deno.test(gated(["groff"], {
  name: "man: basil.1 formats without warnings, and docs/basil.1 is current",
  fn: async () => {
    const man = (await basil(["man"])).stdout;
    assert.equal(
      Deno.readTextFileSync(`${ROOT}/docs/basil.1`),
      man,
      "docs/basil.1 is stale: regenerate it with `deno task -q basil man > docs/basil.1`",
    );
    const o = await new Deno.Command("groff", {
      args: ["-man", "-ww", "-z", `${ROOT}/docs/basil.1`],
      stderr: "piped",
    }).output();
    assert.equal(o.code, 0);
    assert.equal(new TextDecoder().decode(o.stderr), "");
  },
}));

Deno.test(gated(["man"], {
  name: "man: man -l renders every command",
  fn: async () => {
    const o = await new Deno.Command("man", {
      args: ["-l", `${ROOT}/docs/basil.1`],
      env: { MANPAGER: "cat", MANWIDTH: "100" },
      stdout: "piped",
    }).output();
    assert.equal(o.code, 0);
    const text = new TextDecoder().decode(o.stdout);
    assert.match(text, /basil doctor \[options\]/);
    assert.match(text, /basil audit verify \[options\] <file>/);
  },
}));
