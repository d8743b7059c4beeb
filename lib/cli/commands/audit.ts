/**
 * `basil audit verify FILE [--previous FILE]`: checks an audit file's hash
 * chain (lib/audit/verify.ts) and prints `ok: N records` (exit 0) or
 * `line L: reason` (exit 1). With `--previous`, the file rotated out before
 * FILE is verified first and FILE's first record must link to its last line.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { verifyAuditFile } from "../../audit/verify.ts";
import type { AuditVerification } from "../../audit/verify.ts";
import { describeFsError } from "../../core/fs.ts";
import type { CliContext } from "../context.ts";
import { abs } from "../inputs.ts";
import { CliError } from "../io.ts";

async function verify(
  path: string,
  previousLastHash: string | undefined,
): Promise<AuditVerification> {
  try {
    return await verifyAuditFile(
      path,
      previousLastHash === undefined ? {} : { previousLastHash },
    );
  } catch (e) {
    throw new CliError(`audit file ${path}: cannot read: ${describeFsError(e)}`);
  }
}

/** Registers `audit verify`. */
export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program.command("audit").description("Work with the agent's audit log");
  audit.command("verify")
    .description("Verify an audit file's hash chain; name the first bad line (exit 1)")
    .argument("<file>", "audit JSONL file")
    .option("--previous <file>", "the file rotated out before it (its last line is linked)")
    .action(async (file, o) => {
      let previousLastHash: string | undefined;
      if (o.previous !== undefined) {
        const prev = await verify(abs(o.previous, ctx.cwd), undefined);
        if (!prev.ok) {
          ctx.io.out(`${o.previous}: line ${prev.line}: ${prev.reason}\n`);
          ctx.exitCode = 1;
          return;
        }
        previousLastHash = prev.lastHash;
      }
      const r = await verify(abs(file, ctx.cwd), previousLastHash);
      if (r.ok) ctx.io.out(`ok: ${r.records} records\n`);
      else {
        ctx.io.out(`line ${r.line}: ${r.reason}\n`);
        ctx.exitCode = 1;
      }
    });
}
