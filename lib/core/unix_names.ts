/**
 * User and group name resolution from `/etc/passwd` and `/etc/group` text.
 * Parsing is pure; reading the files is the caller's job, so the policy
 * loader can be tested without touching the host.
 * @module
 */

/** A parsed view of the host's user and group databases. */
export interface UnixNames {
  uidOf(user: string): number | undefined;
  gidOf(group: string): number | undefined;
  userOf(uid: number): string | undefined;
  /** Primary gid of a user, from passwd. */
  primaryGidOf(uid: number): number | undefined;
  /** uids listed as members of `gid` in /etc/group, plus users whose primary group it is. */
  membersOf(gid: number): number[];
}

/**
 * A decimal id field. `Number("")` is 0, so a blank or odd field would
 * otherwise turn a malformed line into root.
 */
function parseId(field: string | undefined): number | undefined {
  if (field === undefined || !/^\d{1,10}$/.test(field)) return undefined;
  const id = Number(field);
  return id <= 0xffffffff ? id : undefined;
}

/** Parses passwd and group file contents. Malformed lines are skipped. */
export function parseUnixNames(passwd: string, group: string): UnixNames {
  const users = new Map<string, { uid: number; gid: number }>();
  const byUid = new Map<number, string>();
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || line.startsWith("#")) continue;
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    // Like getpwnam(3), the first entry for a name wins.
    if (uid === undefined || gid === undefined || f[0] === "" || users.has(f[0]!)) continue;
    users.set(f[0]!, { uid, gid });
    if (!byUid.has(uid)) byUid.set(uid, f[0]!);
  }
  const groups = new Map<string, { gid: number; members: string[] }>();
  for (const line of group.split("\n")) {
    const f = line.split(":");
    if (f.length < 3 || line.startsWith("#")) continue;
    const gid = parseId(f[2]);
    if (gid === undefined || f[0] === "" || groups.has(f[0]!)) continue;
    const members = (f[3] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
    groups.set(f[0]!, { gid, members });
  }
  return {
    uidOf: (u) => users.get(u)?.uid,
    gidOf: (g) => groups.get(g)?.gid,
    userOf: (uid) => byUid.get(uid),
    primaryGidOf: (uid) => {
      const name = byUid.get(uid);
      return name === undefined ? undefined : users.get(name)?.gid;
    },
    membersOf: (gid) => {
      const out = new Set<number>();
      for (const [, u] of users) if (u.gid === gid) out.add(u.uid);
      for (const [, g] of groups) {
        if (g.gid !== gid) continue;
        for (const m of g.members) {
          const u = users.get(m);
          if (u) out.add(u.uid);
        }
      }
      return [...out].sort((a, b) => a - b);
    },
  };
}

/** Reads and parses the host's `/etc/passwd` and `/etc/group`. */
export function readHostUnixNames(): UnixNames {
  const read = (p: string) => {
    try {
      return Deno.readTextFileSync(p);
    } catch {
      return "";
    }
  };
  return parseUnixNames(read("/etc/passwd"), read("/etc/group"));
}
