/**
 * Tier 1 client commands: `get`, `set`, `rotate`, `list`.
 *
 * `set` reads the value from `--value-file` or stdin (`-`) so it need not sit
 * in argv; a value given on the command line still works, with a warning.
 * `get --out-file` writes atomically with mode 0600.
 * @module
 */

import { Option } from "@commander-js/extra-typings";
import type { Command } from "@commander-js/extra-typings";
import { fromHex, toBase64, toBase64Url, toHex, utf8 } from "../../core/encoding.ts";
import { readSecretFile, writeFileAtomic } from "../../core/fs.ts";
import { keyTypeFromWire } from "../../service/enums.ts";
import { CatalogKind, SecretService } from "../../wire/basil/broker/v1/broker_pb.ts";
import { withClient } from "../client.ts";
import type { CliContext } from "../context.ts";
import { CliError } from "../io.ts";
import { intArg } from "../options.ts";

const FORMATS = ["raw", "hex", "base64", "base64-url-no-pad"] as const;
type Format = typeof FORMATS[number];

function render(value: Uint8Array, format: Format): Uint8Array {
  switch (format) {
    case "raw":
      return value;
    case "hex":
      return utf8(toHex(value) + "\n");
    case "base64":
      return utf8(toBase64(value) + "\n");
    case "base64-url-no-pad":
      return utf8(toBase64Url(value) + "\n");
  }
}

/** Registers the Tier 1 commands. */
export function registerSecretCommands(
  program: Command,
  ctx: CliContext,
): void {
  const socket = ctx.socket;

  program.command("get")
    .description("Fetch a value (Tier 1) as the calling uid")
    .requiredOption("--key-id <id>", "catalog key id")
    .option("--version <n>", "a specific version", intArg(1, 0xffffffff))
    .option("--raw", "print the bytes as is (same as --format raw)")
    .addOption(new Option("--format <format>", "print only the value").choices(FORMATS))
    .option("--out-file <path>", "write the value to a file (atomic, mode 0600)")
    .action(async (o) => {
      const format: Format | undefined = o.raw ? "raw" : o.format;
      const res = await withClient(
        socket(),
        (c) => c.unary(SecretService.method.getSecret, { secretId: o.keyId, version: o.version }),
      );
      try {
        if (o.outFile !== undefined) {
          const bytes = render(res.value, format ?? "raw");
          writeFileAtomic(o.outFile, bytes);
          if (bytes !== res.value) bytes.fill(0);
          return;
        }
        if (format === undefined) {
          ctx.io.out(`version: ${res.version}\nvalue: ${toHex(res.value)}\n`);
        } else {
          const bytes = render(res.value, format);
          ctx.io.outBytes(bytes);
          if (bytes !== res.value) bytes.fill(0);
        }
      } finally {
        res.value.fill(0);
      }
    });

  program.command("set")
    .description("Store a new version of a value key")
    .requiredOption("--key-id <id>", "catalog key id")
    .option("--hex", "the value is hex text, decoded before storing")
    .option("--value-file <path>", "read the value from a file (- for stdin)")
    .argument("[value]", "the value (visible to other processes: prefer --value-file or -)")
    .action(async (value, o) => {
      let bytes: Uint8Array;
      if (o.valueFile !== undefined && value !== undefined) {
        throw new CliError("give the value once: either --value-file or a positional value", 2);
      }
      if (o.valueFile === "-" || value === "-") bytes = await ctx.io.readStdin();
      else if (o.valueFile !== undefined) {
        bytes = readSecretFile(o.valueFile, { what: "value-file" }).expose();
      } else if (value !== undefined) {
        ctx.io.err(
          "warning: a value on the command line is visible to other processes; prefer --value-file or stdin\n",
        );
        bytes = utf8(value);
      } else throw new CliError("no value: give --value-file <path>, - for stdin, or a value", 2);
      if (o.hex) {
        const text = new TextDecoder().decode(bytes).trim();
        bytes.fill(0);
        try {
          bytes = fromHex(text);
        } catch {
          throw new CliError("--hex: the value is not hex", 2);
        }
      }
      try {
        const res = await withClient(
          socket(),
          (c) => c.unary(SecretService.method.setSecret, { secretId: o.keyId, value: bytes }),
        );
        ctx.io.out(`version: ${res.version}\n`);
      } finally {
        bytes.fill(0);
      }
    });

  program.command("rotate")
    .description("Rotate a key: a fresh value from its recipe, or a new key version")
    .requiredOption("--key-id <id>", "catalog key id")
    .action(async (o) => {
      const res = await withClient(
        socket(),
        (c) => c.unary(SecretService.method.rotateSecret, { secretId: o.keyId }),
      );
      ctx.io.out(`version: ${res.version}\n`);
    });

  program.command("list")
    .description("List the catalog entries you may see: name, kind, key type, latest version")
    .option("--prefix <prefix>", "only names starting with this string")
    .action(async (o) => {
      const entries = await withClient(
        socket(),
        (c) => c.stream(SecretService.method.listCatalog, { prefix: o.prefix }),
      );
      for (const e of entries) {
        const kind = CatalogKind[e.kind]?.toLowerCase() ?? String(e.kind);
        const kt = e.keyType === undefined ? "-" : keyTypeFromWire(e.keyType) ?? "-";
        ctx.io.out(`${e.name}\t${kind}\t${kt}\t${e.latestVersion}\n`);
      }
    });
}
