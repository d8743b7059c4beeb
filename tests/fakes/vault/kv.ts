/**
 * The double's KV version 2 engine, after OpenBao's builtin/logical/kv:
 * `data/<path>` read (`?version=N`) and write (`{"data":{...}, "options":
 * {"cas": N}}`), `metadata/<path>` read and delete, versions from 1 with
 * the default sliding window of 10 (`max_versions`), 404 with the metadata
 * for a deleted or destroyed version, `config`.
 * @module
 */

import { bad, Fields, ok, type Reply, unsupported } from "./reply.ts";

interface KvVersion {
  data: Record<string, unknown>;
  created: Date;
  deleted?: Date;
  destroyed: boolean;
}

interface KvEntry {
  current: number;
  oldest: number;
  versions: Map<number, KvVersion>;
  created: Date;
  updated: Date;
}

const DEFAULT_MAX_VERSIONS = 10;

/** One KV v2 mount. */
export class KvMount {
  readonly entries = new Map<string, KvEntry>();
  maxVersions = 0;
  casRequired = false;

  handle(rest: string, method: string, f: Fields, query: URLSearchParams): Reply {
    if (rest === "config") {
      if (method === "GET") {
        return ok({
          max_versions: this.maxVersions,
          cas_required: this.casRequired,
          delete_version_after: "0s",
        });
      }
      if (f.has("max_versions")) this.maxVersions = f.int("max_versions");
      if (f.has("cas_required")) this.casRequired = f.bool("cas_required");
      return { kind: "empty" };
    }
    const slash = rest.indexOf("/");
    const area = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? "" : rest.slice(slash + 1);
    if (path === "" && area !== "metadata") return bad("missing path");
    switch (area) {
      case "data":
        if (method === "GET") return this.#read(path, query.get("version"));
        if (method === "POST" || method === "PUT") return this.#write(path, f);
        if (method === "DELETE") return this.#deleteLatest(path);
        return unsupported();
      case "metadata":
        if (method === "LIST" || (method === "GET" && path.endsWith("/")) || path === "") {
          return this.#list(path);
        }
        if (method === "GET") return this.#metadata(path);
        if (method === "DELETE") {
          this.entries.delete(path);
          return { kind: "empty" };
        }
        return unsupported();
    }
    return {
      kind: "error",
      status: 404,
      errors: [`no handler for route "secret/${rest}". route entry not found.`],
    };
  }

  #read(path: string, versionParam: string | null): Reply {
    const e = this.entries.get(path);
    if (e === undefined) return { kind: "notFound" };
    let ver = e.current;
    if (versionParam !== null && versionParam !== "") {
      if (!/^\d+$/.test(versionParam)) {
        return bad(`error converting input for field "version": cannot parse as int`);
      }
      if (Number(versionParam) > 0) ver = Number(versionParam);
    }
    const v = e.versions.get(ver);
    if (v === undefined) return { kind: "notFound" };
    const metadata = {
      version: ver,
      created_time: v.created.toISOString(),
      deletion_time: v.deleted?.toISOString() ?? "",
      destroyed: v.destroyed,
      custom_metadata: null,
    };
    if (v.destroyed || v.deleted !== undefined) {
      return { kind: "notFound", data: { data: null, metadata } };
    }
    return ok({ data: v.data, metadata });
  }

  #write(path: string, f: Fields): Reply {
    const data = f.raw.data;
    if (data === undefined || data === null) return bad("no data provided");
    if (typeof data !== "object" || Array.isArray(data)) return bad("data must be a JSON object");
    const e = this.entries.get(path);
    const options = (f.raw.options ?? {}) as Record<string, unknown>;
    const cas = options.cas;
    if (cas !== undefined || this.casRequired) {
      if (cas === undefined) return bad("check-and-set parameter required for this call");
      if (Number(cas) !== (e?.current ?? 0)) {
        return bad("check-and-set parameter did not match the current version");
      }
    }
    const now = new Date();
    const entry: KvEntry = e ??
      { current: 0, oldest: 0, versions: new Map(), created: now, updated: now };
    entry.current++;
    entry.versions.set(entry.current, {
      data: data as Record<string, unknown>,
      created: now,
      destroyed: false,
    });
    entry.updated = now;
    const max = this.maxVersions > 0 ? this.maxVersions : DEFAULT_MAX_VERSIONS;
    if (entry.current - entry.oldest >= max) {
      const drop = entry.current - max;
      for (let i = entry.oldest; i <= drop; i++) entry.versions.delete(i);
      entry.oldest = drop + 1;
    }
    this.entries.set(path, entry);
    return ok({
      version: entry.current,
      created_time: now.toISOString(),
      deletion_time: "",
      destroyed: false,
      custom_metadata: null,
    });
  }

  #deleteLatest(path: string): Reply {
    const e = this.entries.get(path);
    const v = e?.versions.get(e.current);
    if (v !== undefined) v.deleted = new Date();
    return { kind: "empty" };
  }

  #metadata(path: string): Reply {
    const e = this.entries.get(path);
    if (e === undefined) return { kind: "notFound" };
    const versions: Record<string, unknown> = {};
    for (const [n, v] of e.versions) {
      versions[String(n)] = {
        created_time: v.created.toISOString(),
        deletion_time: v.deleted?.toISOString() ?? "",
        destroyed: v.destroyed,
      };
    }
    return ok({
      cas_required: this.casRequired,
      created_time: e.created.toISOString(),
      current_version: e.current,
      custom_metadata: null,
      delete_version_after: "0s",
      max_versions: 0,
      oldest_version: e.oldest,
      updated_time: e.updated.toISOString(),
      versions,
    });
  }

  #list(prefix: string): Reply {
    const p = prefix.replace(/\/?$/, prefix === "" ? "" : "/");
    const keys = new Set<string>();
    for (const k of this.entries.keys()) {
      if (!k.startsWith(p)) continue;
      const rest = k.slice(p.length);
      const i = rest.indexOf("/");
      keys.add(i < 0 ? rest : rest.slice(0, i + 1));
    }
    return keys.size === 0 ? { kind: "notFound" } : ok({ keys: [...keys].sort() });
  }
}
