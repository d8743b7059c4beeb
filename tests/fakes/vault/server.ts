/**
 * A faithful Vault/OpenBao double for tests and the dev fixture: a Deno
 * HTTP server on 127.0.0.1 that implements every endpoint Basil uses (and
 * the setup endpoints a test or `tools/dev.ts` needs: `sys/mounts`,
 * `sys/auth`, `sys/policies/acl`, AppRole and JWT roles, PKI roots and
 * roles), with OpenBao's paths, methods, status codes and bodies; the PKI
 * CA and chain reads need no token, as in OpenBao. Its fidelity is checked
 * by an independent client (python3-hvac, tests/fixtures/py/hvac_fidelity.py).
 * Plain http by default; https with `tls` (a certificate the test made).
 *
 * Faults for tests: `stop()`/`restart()` (connection refused, same port,
 * state kept), `faults.status` (answer every request with that status),
 * `faults.delayMs` (slow answers), `faults.body` (malformed JSON, wrong
 * types, a huge body, a redirect), `faults.sealed` (503 "Vault is sealed").
 * @module
 */

import { AuthState } from "./auth.ts";
import { KvMount } from "./kv.ts";
import { PkiMount } from "./pki.ts";
import {
  bad,
  denied,
  FieldError,
  Fields,
  noRoute,
  ok,
  render,
  type Reply,
  unsupported,
} from "./reply.ts";
import { TransitMount } from "./transit.ts";

/** Faults a test can switch on and off. */
export interface VaultFaults {
  /** Answer every request with this status and an `{"errors":[...]}` body. */
  status?: number;
  /** Delay every answer. */
  delayMs?: number;
  /** Answer successful requests with a broken body. */
  body?: "malformed-json" | "wrong-types" | "huge" | "redirect";
  /** 503 "Vault is sealed" on everything but sys/health (which says sealed). */
  sealed?: boolean;
}

type Mount =
  | { type: "transit"; engine: TransitMount }
  | { type: "kv"; engine: KvMount }
  | { type: "pki"; engine: PkiMount };

/** Options for {@linkcode startVaultDouble}. */
export interface VaultDoubleOptions {
  /** The root token (default: random). */
  rootToken?: string;
  /** Port (default: any free port). */
  port?: number;
  /** Mount `secret/` as KV v2 like `bao server -dev` (default true). */
  devMounts?: boolean;
  /**
   * Serve https with this PEM certificate chain and key (default: plain
   * http); `ca` is the PEM CA the test's own setup calls trust.
   */
  tls?: { cert: string; key: string; ca: string };
}

/** A running double. */
export interface VaultDouble {
  readonly addr: string;
  readonly port: number;
  readonly rootToken: string;
  readonly faults: VaultFaults;
  readonly auth: AuthState;
  readonly mounts: Map<string, Mount>;
  /** Requests served, by `METHOD path` (for tests that count round trips). */
  readonly hits: Map<string, number>;
  /** For the test's own calls: trusts `tls.ca` (undefined for plain http). */
  readonly client: Deno.HttpClient | undefined;
  /** Stops listening (clients see connection refused); state is kept. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): void;
  close(): Promise<void>;
}

const VERSION = "2.5.0";

/** PKI paths (under the mount) readable without a token, of those the double serves. */
const PKI_UNAUTHENTICATED = new Set(["ca/pem", "ca_chain", "cert/ca_chain", "crl/pem"]);

/** Starts a double on 127.0.0.1. */
export function startVaultDouble(options: VaultDoubleOptions = {}): Promise<VaultDouble> {
  const rootToken = options.rootToken ?? `root-${crypto.randomUUID()}`;
  const auth = new AuthState(rootToken);
  const mounts = new Map<string, Mount>();
  const authMounts = new Map<string, "approle" | "jwt" | "token">([["token", "token"]]);
  const faults: VaultFaults = {};
  const hits = new Map<string, number>();
  if (options.devMounts ?? true) mounts.set("secret", { type: "kv", engine: new KvMount() });

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (faults.delayMs) await new Promise((r) => setTimeout(r, faults.delayMs));
    if (!url.pathname.startsWith("/v1/")) {
      return new Response("404 page not found\n", { status: 404 });
    }
    const path = decodeURIComponent(url.pathname.slice(4)).replace(/\/$/, "");
    let method = req.method === "PUT" ? "POST" : req.method;
    if (req.method === "GET" && url.searchParams.get("list") === "true") method = "LIST";
    hits.set(`${method} ${path}`, (hits.get(`${method} ${path}`) ?? 0) + 1);
    if (path === "sys/health") return health(req);
    if (faults.sealed) {
      return render({ kind: "error", status: 503, errors: ["Vault is sealed"] }, "");
    }
    if (faults.status !== undefined) {
      return render(
        { kind: "error", status: faults.status, errors: [`injected ${faults.status}`] },
        "",
      );
    }
    let raw: Record<string, unknown> = {};
    if (method === "POST" || method === "DELETE") {
      const text = await req.text();
      if (text.trim() !== "") {
        try {
          const v = JSON.parse(text);
          if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error();
          raw = v;
        } catch {
          return render(bad("failed to parse JSON input: invalid character"), "");
        }
      }
    }
    let reply: Reply;
    let mountType = "";
    try {
      const r = await route(
        path,
        method,
        new Fields(raw),
        url.searchParams,
        req.headers.get("X-Vault-Token"),
      );
      reply = r.reply;
      mountType = r.mountType;
    } catch (e) {
      if (e instanceof FieldError) reply = bad(e.message);
      else throw e;
    }
    if (faults.body !== undefined && (reply.kind === "data" || reply.kind === "auth")) {
      return broken(faults.body);
    }
    return render(reply, mountType);
  }

  async function route(
    path: string,
    method: string,
    f: Fields,
    query: URLSearchParams,
    tokenHeader: string | null,
  ): Promise<{ reply: Reply; mountType: string }> {
    const segs = path.split("/");
    const token = auth.lookup(tokenHeader);
    // Login endpoints need no token.
    if (segs[0] === "auth" && segs.length >= 3 && segs[segs.length - 1] === "login") {
      const m = segs.slice(1, -1).join("/");
      const kind = authMounts.get(m);
      if (kind === "approle") {
        return { reply: auth.approle(m, "login", method, f), mountType: "approle" };
      }
      if (kind === "jwt") return { reply: auth.jwtAuth(m, "login", method, f), mountType: "jwt" };
    }
    // Unauthenticated paths skip the token and the ACL check alike.
    const open = method === "GET" ? unauthenticatedPki(segs) : undefined;
    if (open !== undefined) {
      return { reply: await open.engine.handle(open.rest, method, f), mountType: "pki" };
    }
    if (token === undefined) return { reply: denied(), mountType: "" };
    const cap = method === "GET"
      ? "read"
      : method === "DELETE"
      ? "delete"
      : method === "LIST"
      ? "list"
      : "update";
    const allowed = auth.allowed(token, path, cap) ||
      (cap === "update" && auth.allowed(token, path, "create"));
    if (!allowed) return { reply: denied(), mountType: "" };
    if (segs[0] === "sys") return { reply: sys(segs.slice(1), method, f), mountType: "system" };
    if (segs[0] === "auth") {
      for (let i = segs.length - 1; i >= 2; i--) {
        const m = segs.slice(1, i).join("/");
        const kind = authMounts.get(m);
        const rest = segs.slice(i).join("/");
        if (kind === "token") {
          return { reply: auth.token(rest, method, f, token), mountType: "token" };
        }
        if (kind === "approle") {
          return { reply: auth.approle(m, rest, method, f), mountType: "approle" };
        }
        if (kind === "jwt") return { reply: auth.jwtAuth(m, rest, method, f), mountType: "jwt" };
      }
      return { reply: noRoute(path), mountType: "" };
    }
    for (let i = segs.length - 1; i >= 1; i--) {
      const mount = mounts.get(segs.slice(0, i).join("/"));
      if (mount === undefined) continue;
      const rest = segs.slice(i).join("/");
      switch (mount.type) {
        case "transit":
          return { reply: mount.engine.handle(rest, method, f), mountType: "transit" };
        case "kv":
          return { reply: mount.engine.handle(rest, method, f, query), mountType: "kv" };
        case "pki":
          return { reply: await mount.engine.handle(rest, method, f), mountType: "pki" };
      }
    }
    return { reply: noRoute(path), mountType: "" };
  }

  /**
   * The PKI reads OpenBao serves without a token (the pki backend's
   * `PathsSpecial.Unauthenticated`: the CA certificate, chain and CRL).
   */
  function unauthenticatedPki(segs: string[]): { engine: PkiMount; rest: string } | undefined {
    for (let i = segs.length - 1; i >= 1; i--) {
      const mount = mounts.get(segs.slice(0, i).join("/"));
      if (mount === undefined) continue;
      const rest = segs.slice(i).join("/");
      return mount.type === "pki" && PKI_UNAUTHENTICATED.has(rest)
        ? { engine: mount.engine, rest }
        : undefined;
    }
    return undefined;
  }

  function sys(segs: string[], method: string, f: Fields): Reply {
    const [area, ...rest] = segs;
    const name = rest.join("/");
    if (area === "mounts" && name !== "") {
      if (method === "DELETE") {
        mounts.delete(name);
        return { kind: "empty" };
      }
      if (method !== "POST") return unsupported();
      if (mounts.has(name)) return bad(`path is already in use at ${name}/`);
      const type = f.str("type");
      const options = (f.raw.options ?? {}) as Record<string, unknown>;
      if (type === "transit") mounts.set(name, { type: "transit", engine: new TransitMount() });
      else if (type === "kv-v2" || (type === "kv" && String(options.version ?? "1") === "2")) {
        mounts.set(name, { type: "kv", engine: new KvMount() });
      } else if (type === "pki") mounts.set(name, { type: "pki", engine: new PkiMount() });
      else return bad(`plugin not found in the catalog: ${type}`);
      return { kind: "empty" };
    }
    if (area === "mounts" && method === "GET") {
      const data: Record<string, unknown> = {};
      for (const [p, m] of mounts) {
        data[`${p}/`] = { type: m.type, options: m.type === "kv" ? { version: "2" } : null };
      }
      return ok(data);
    }
    if (area === "auth" && name !== "") {
      if (method !== "POST") return unsupported();
      if (authMounts.has(name)) return bad(`path is already in use at auth/${name}/`);
      const type = f.str("type");
      if (type === "approle") {
        authMounts.set(name, "approle");
        auth.approles.set(name, new Map());
      } else if (type === "jwt") {
        authMounts.set(name, "jwt");
        auth.jwt.set(name, { pubkeys: [], roles: new Map() });
      } else return bad(`plugin not found in the catalog: ${type}`);
      return { kind: "empty" };
    }
    if (
      (area === "policies" && rest[0] === "acl" && rest.length === 2) ||
      (area === "policy" && rest.length === 1)
    ) {
      return auth.policy(rest[rest.length - 1]!, method, f);
    }
    return noRoute(`sys/${segs.join("/")}`);
  }

  function health(req: Request): Response {
    const body = {
      initialized: true,
      sealed: !!faults.sealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: "disabled",
      replication_dr_mode: "disabled",
      server_time_utc: Math.floor(Date.now() / 1000),
      version: VERSION,
      cluster_name: "vault-double",
      cluster_id: "00000000-0000-0000-0000-000000000000",
    };
    const status = faults.sealed ? 503 : faults.status ?? 200;
    return new Response(req.method === "HEAD" ? null : JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  }

  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let port = options.port ?? 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = Deno.serve({
        hostname: "127.0.0.1",
        port,
        ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
        onListen: (a) => {
          port = a.port;
          resolve();
        },
      }, handle);
    });

  const client = options.tls ? Deno.createHttpClient({ caCerts: [options.tls.ca] }) : undefined;
  return listen().then(() => ({
    get addr() {
      return `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    rootToken,
    faults,
    auth,
    mounts,
    hits,
    client,
    async stop() {
      await server?.shutdown();
      server = undefined;
    },
    restart() {
      void listen();
    },
    async close() {
      await server?.shutdown();
      server = undefined;
      client?.close();
    },
  }));
}

function broken(kind: NonNullable<VaultFaults["body"]>): Response {
  switch (kind) {
    case "malformed-json":
      return new Response('{"data": {"signature": "vault:v1:', { status: 200 });
    case "wrong-types":
      return new Response(
        JSON.stringify({
          data: {
            signature: 7,
            ciphertext: ["x"],
            plaintext: {},
            latest_version: "one",
            keys: "none",
            version: -1,
            data: "x",
            certificate: 1,
            valid: "yes",
          },
          auth: { client_token: 5, lease_duration: "long" },
        }),
        { status: 200, headers: { "Content-Type": "application/json" } },
      );
    case "huge":
      return new Response(
        new ReadableStream({
          start(c) {
            const chunk = new TextEncoder().encode(`"${"A".repeat(65536)}",`);
            c.enqueue(new TextEncoder().encode('{"data":{"pad":['));
            for (let i = 0; i < 200; i++) c.enqueue(chunk);
            c.enqueue(new TextEncoder().encode('"end"]}}'));
            c.close();
          },
        }),
        { status: 200, headers: { "Content-Type": "application/json" } },
      );
    case "redirect":
      return new Response(null, {
        status: 307,
        headers: { Location: "http://127.0.0.2:1/v1/elsewhere" },
      });
  }
}

/** A ready-to-use double: transit, pki (root + `basil` role) and approle/jwt mounts. */
export async function startConfiguredDouble(
  options: VaultDoubleOptions = {},
): Promise<VaultDouble> {
  const d = await startVaultDouble(options);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${d.addr}/v1/${path}`, {
      method,
      headers: { "X-Vault-Token": d.rootToken },
      body: body === undefined ? undefined : JSON.stringify(body),
      ...(d.client ? { client: d.client } : {}),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`double setup ${method} ${path}: ${res.status} ${text}`);
    return text === "" ? undefined : JSON.parse(text);
  };
  await call("POST", "sys/mounts/transit", { type: "transit" });
  await call("POST", "sys/mounts/pki", { type: "pki" });
  await call("POST", "pki/root/generate/internal", {
    common_name: "Basil Test Root",
    ttl: "87600h",
  });
  await call("POST", "pki/roles/basil", {
    allow_any_name: true,
    allowed_uri_sans: ["spiffe://*"],
    require_cn: false,
    key_type: "ec",
    key_bits: 256,
    max_ttl: "720h",
  });
  await call("POST", "sys/auth/approle", { type: "approle" });
  await call("POST", "sys/auth/jwt", { type: "jwt" });
  return d;
}
