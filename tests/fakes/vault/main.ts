// deno-lint-ignore-file no-console
/**
 * The double as a process, with the flags of `bao server -dev` that
 * tools/dev.ts uses: `server -dev [-dev-root-token-id=T]
 * [-dev-listen-address=127.0.0.1:PORT]`. Prints one JSON line
 * `{"addr","root_token"}` on stdout once listening; stops on SIGTERM/SIGINT.
 * (A `bao` shim on PATH that runs this lets the dev fixture be tested
 * without a real server.)
 * @module
 */

import { startVaultDouble } from "./server.ts";

const args = Deno.args;
if (args[0] !== "server" || !args.includes("-dev")) {
  console.error(
    "usage: main.ts server -dev [-dev-root-token-id=T] [-dev-listen-address=127.0.0.1:PORT]",
  );
  Deno.exit(2);
}
const flag = (name: string) => args.find((a) => a.startsWith(`-${name}=`))?.split("=")[1];
const listen = flag("dev-listen-address") ?? "127.0.0.1:0";
const port = Number(listen.split(":").pop());
if (!listen.startsWith("127.0.0.1:") || !Number.isInteger(port)) {
  console.error("the vault double listens on 127.0.0.1 only");
  Deno.exit(2);
}
const d = await startVaultDouble({ rootToken: flag("dev-root-token-id"), port });
console.log(JSON.stringify({ addr: d.addr, root_token: d.rootToken }));
const stop = async () => {
  await d.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
