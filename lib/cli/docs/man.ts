/**
 * The `basil(1)` man page (roff, `man` macros), generated from the command
 * tree: every command with its usage, description and options, then the
 * exit status and the environment. No date, so the output is reproducible
 * (docs/basil.1 is this output, checked by a test).
 * @module
 */

import { allCommands, type CommandDoc, type OptionDoc } from "./tree.ts";

/** Escapes text for roff: backslashes, hyphens, non-ASCII, a leading control character. */
export function roff(s: string): string {
  const t = s.replace(/\s+/g, " ").trim().replaceAll("\\", "\\e").replaceAll("-", "\\-")
    .replace(
      /[^\t\n\r -~]/gu,
      (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`,
    );
  return /^[.']/.test(t) ? `\\&${t}` : t;
}

function optionItem(o: OptionDoc): string {
  const names = [o.short, o.long].filter((n) => n !== undefined).map((n) => `\\fB${roff(n!)}\\fR`)
    .join(", ");
  const value = o.value === undefined ? "" : ` \\fI${roff(o.value)}\\fR`;
  const choices = o.choices ? ` (one of: ${o.choices.join(", ")})` : "";
  return `.TP\n${names}${value}\n${roff(o.description + choices)}`;
}

function commandSection(c: CommandDoc): string {
  const usage = ["basil", ...c.path].join(" ");
  const tail = [c.subcommands.length > 0 ? "<command>" : "", "[options]", ...c.args]
    .filter((x) => x !== "").join(" ");
  return [
    `.SS "${roff(c.path.join(" "))}"`,
    `\\fB${roff(usage)}\\fR ${roff(tail)}`,
    ".PP",
    roff(c.description),
    ...c.options.map(optionItem),
  ].join("\n");
}

/** The man page for the program tree `root`. */
export function manPage(root: CommandDoc, version: string, env: readonly string[]): string {
  const commands = allCommands(root).slice(1);
  return [
    `.TH BASIL 1 "" "basil ${roff(version)}" "User Commands"`,
    ".SH NAME",
    `basil \\- ${roff(root.description.replace(/^Basil: /, ""))}`,
    ".SH SYNOPSIS",
    "\\fBbasil\\fR [\\fB\\-\\-socket\\fR \\fIpath\\fR] \\fIcommand\\fR [\\fIoptions\\fR]",
    ".SH DESCRIPTION",
    roff(
      "Basil is a host-local secrets broker. basil agent runs the broker daemon; the other " +
        "commands are its client (over the agent's unix socket) and offline tools for its " +
        "configuration, catalog, policy and sealed bundle.",
    ),
    ".SH GLOBAL OPTIONS",
    ...root.options.map(optionItem),
    ".SH COMMANDS",
    ...commands.map(commandSection),
    ".SH EXIT STATUS",
    ".TP\n0\n" + roff("success"),
    ".TP\n1\n" +
    roff(
      "a runtime error; verify answered false; ready: the agent is not ready; reload rejected; " +
        "doctor found a fatal problem (or, with --strict, a warning); audit verify found a bad line",
    ),
    ".TP\n2\n" + roff("a usage error"),
    ".SH ENVIRONMENT",
    ...env.map((e) => `.TP\n\\fB${roff(e)}\\fR\n${roff(ENV_DOC[e] ?? "")}`),
    ".SH SEE ALSO",
    "The project README (Doctor, Init, Completions, CLI speed).",
    "",
  ].join("\n");
}

const ENV_DOC: Record<string, string> = {
  BASIL_SOCKET: "the agent socket (like --socket)",
  BASIL_CONFIG: "the agent config TOML (like -c)",
  BASIL_CATALOG: "the catalog JSON (like --catalog)",
  BASIL_POLICY: "the policy JSON (like --policy)",
  BASIL_BUNDLE: "the sealed bundle (like --bundle)",
  BASIL_LIBC: "path of libc for the agent",
  BASIL_LIBNGHTTP2: "path of libnghttp2 for the agent",
  BASIL_TSS2_DIR: "directory of the libtss2 libraries (TPM slot)",
  BASIL_TPM_TCTI: "TCTI of the TPM slot",
  VAULT_ADDR: "default Vault/OpenBao address (like --vault-addr)",
  TMPDIR: "where basil demo puts its workdir",
};
