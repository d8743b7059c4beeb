/** A second real uid for attestation tests (created with useradd as root). */

import type { RunAs } from "./cli.ts";

export const PEER_USER = "basil-peer";

/** Ensures the peer user exists and returns its uid/gid. Needs root. */
export async function peerUser(): Promise<RunAs> {
  const id = async (flag: string) => {
    const o = await new Deno.Command("id", { args: [flag, PEER_USER] }).output();
    return o.code === 0 ? Number(new TextDecoder().decode(o.stdout).trim()) : undefined;
  };
  if ((await id("-u")) === undefined) {
    const o = await new Deno.Command("useradd", {
      args: ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PEER_USER],
    }).output();
    if (o.code !== 0 && (await id("-u")) === undefined) {
      throw new Error(`useradd failed: ${new TextDecoder().decode(o.stderr)}`);
    }
  }
  return { uid: (await id("-u"))!, gid: (await id("-g"))! };
}
