/**
 * `issue-cert`: a DNS/IP-SAN leaf from a pki issuer key (the CA key signs in
 * place). Prints PEM: the chain, then the CA chain, then the leaf's PRIVATE
 * KEY — or writes them to `--cert-file`/`--key-file` (atomic, the key 0600).
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { utf8 } from "../../core/encoding.ts";
import { writeFileAtomic } from "../../core/fs.ts";
import { dersToPem, derToPem } from "../../crypto/x509/mod.ts";
import { MintingService } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { CliContext } from "../context.ts";
import { collect, intArg } from "../options.ts";
import { withClient } from "../client.ts";

/** Registers `issue-cert`. */
export function registerCertCommand(program: Command, ctx: CliContext): void {
  program.command("issue-cert")
    .description("Issue a TLS leaf from a pki issuer key; prints PEM (chain, CA chain, key)")
    .requiredOption("--key-id <id>", "the issuer (a pki catalog key)")
    .requiredOption("--common-name <cn>", "subject CN")
    .option("--dns-san <name>", "DNS subject alternative name (repeatable)", collect, [])
    .option("--ip-san <ip>", "IP subject alternative name (repeatable)", collect, [])
    .requiredOption("--ttl-secs <n>", "lifetime in seconds", intArg(1, 10 * 365 * 86400))
    .option("--cert-file <path>", "write the chain and CA chain here instead of stdout")
    .option("--key-file <path>", "write the private key here (mode 0600) instead of stdout")
    .action(async (o) => {
      const r = await withClient(
        ctx.socket(),
        (c) =>
          c.unary(MintingService.method.issueCertificate, {
            issuerKeyId: o.keyId,
            commonName: o.commonName,
            dnsSans: o.dnsSan,
            ipSans: o.ipSan,
            ttl: { seconds: BigInt(o.ttlSecs), nanos: 0 },
          }),
      );
      const certs = dersToPem([...r.certChainDer, ...r.caChainDer]);
      const key = derToPem(r.privateKeyDer, "PRIVATE KEY");
      try {
        if (o.certFile !== undefined) writeFileAtomic(o.certFile, utf8(certs), { mode: 0o644 });
        else ctx.io.out(certs);
        if (o.keyFile !== undefined) writeFileAtomic(o.keyFile, utf8(key));
        else ctx.io.out(key);
      } finally {
        r.privateKeyDer.fill(0);
      }
    });
}
