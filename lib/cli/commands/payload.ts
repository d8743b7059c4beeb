/**
 * Where a command's payload comes from: a positional argument (UTF-8), a
 * file, or stdin (`-`). Exactly one source is allowed. A positional value
 * sits in argv, where any local user can read it (ps, /proc), so using one
 * prints a warning naming the file/stdin alternative. A file that cannot be
 * read is an error naming the path and the reason, never the content.
 * @module
 */

import { utf8 } from "../../core/encoding.ts";
import { readSecretFile } from "../../core/fs.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";

/** Reads the payload from `--<fileFlag>` / `-` / the positional value. */
export async function readPayload(
  ctx: CliContext,
  positional: string | undefined,
  file: string | undefined,
  fileFlag: string,
): Promise<Uint8Array> {
  if (positional !== undefined && file !== undefined) {
    throw new CliError(`give the payload once: a positional value or --${fileFlag}`, 2);
  }
  if (positional === "-" || file === "-") return await ctx.io.readStdin();
  if (file !== undefined) return readSecretFile(file, { what: `--${fileFlag}` }).expose();
  if (positional !== undefined) {
    // Once per run, and only for the argv form: a file or stdin is not on the command line.
    const noun = fileFlag.replace(/-file$/, "");
    ctx.io.err(
      `warning: a ${noun} on the command line is visible to other local users ` +
        `(ps, /proc/PID/cmdline); prefer --${fileFlag} <path> or - for stdin\n`,
    );
    return utf8(positional);
  }
  throw new CliError(`no payload: give a value, --${fileFlag} <path>, or - for stdin`, 2);
}
