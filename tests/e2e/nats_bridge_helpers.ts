/**
 * Peers for the NATS bridge tests: Debian's nats-server in operator mode
 * with a memory resolver, its operator/account/user JWTs and `.creds` made
 * here with the `nats` client's own nkeys (independent of lib/nats), the
 * bridge run through the real CLI, and a stand-in agent socket whose
 * Invoke hangs, fails or holds calls on demand (for the classes a real
 * agent does not produce on request).
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import http2 from "node:http2";
import { nkeys } from "nats";
import { basilCommand, ROOT } from "../helpers/cli.ts";
import { Signal } from "../helpers/wait.ts";
import { toBase64Url } from "../../lib/core/encoding.ts";
import {
  SealedRequestSchema,
  SealedResponseSchema,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";

const enc = new TextEncoder();
const b64url = (b: Uint8Array) =>
  btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

type KeyPair = ReturnType<typeof nkeys.createUser>;

/** A NATS JWT signed by `issuer` (header and claims per nats-io/jwt v2). */
function natsJwt(issuer: KeyPair, sub: string, name: string, nats: Record<string, unknown>) {
  const claims = {
    jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub,
    nats: { ...nats, version: 2 },
  };
  const head = b64url(enc.encode(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" })));
  const body = b64url(enc.encode(JSON.stringify(claims)));
  const sig = issuer.sign(enc.encode(`${head}.${body}`));
  return `${head}.${body}.${b64url(sig)}`;
}

/** The `.creds` text for a user JWT and its seed. */
function credsText(jwt: string, seed: Uint8Array): string {
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
    `************************* IMPORTANT *************************\n` +
    `NKEY Seed printed below can be used to sign and prove identity.\n` +
    `NKEYs are sensitive and should be treated as secrets.\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(seed)}\n` +
    `------END USER NKEY SEED------\n\n*************************************************************\n`;
}

/** A running nats-server in operator mode. */
export class NatsServer {
  readonly url: string;
  readonly #child: Deno.ChildProcess;
  readonly #account: KeyPair;
  readonly #dir: string;

  private constructor(url: string, child: Deno.ChildProcess, account: KeyPair, dir: string) {
    this.url = url;
    this.#child = child;
    this.#account = account;
    this.#dir = dir;
  }

  /** Starts nats-server on a random loopback port; resolves once it listens. */
  static async start(dir: string): Promise<NatsServer> {
    const operator = nkeys.createOperator();
    const account = nkeys.createAccount();
    const opJwt = natsJwt(operator, operator.getPublicKey(), "test-operator", { type: "operator" });
    const accJwt = natsJwt(operator, account.getPublicKey(), "test-account", {
      type: "account",
      // nats-server 2.9 reads a missing limit as 0.
      limits: {
        subs: -1,
        data: -1,
        payload: -1,
        imports: -1,
        exports: -1,
        wildcards: true,
        conn: -1,
        leaf: -1,
      },
      default_permissions: { pub: {}, sub: {} },
    });
    const conf = `${dir}/nats.conf`;
    Deno.writeTextFileSync(
      conf,
      [
        "listen: 127.0.0.1:-1",
        `operator: ${opJwt}`,
        "resolver: MEMORY",
        `resolver_preload: { ${account.getPublicKey()}: ${accJwt} }`,
        "",
      ].join("\n"),
    );
    const child = new Deno.Command("nats-server", {
      args: ["-c", conf],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let log = "";
    const dec = new TextDecoder();
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nats-server not listening:\n${log}`)),
        60_000,
      );
      (async () => {
        for await (const c of child.stderr) {
          log += dec.decode(c, { stream: true });
          const m = /Listening for client connections on (\S+:\d+)/.exec(log);
          if (m) {
            clearTimeout(timer);
            resolve(`nats://${m[1]}`);
          }
        }
        clearTimeout(timer);
        reject(new Error(`nats-server exited:\n${log}`));
      })();
    });
    return new NatsServer(url, child, account, dir);
  }

  /** Writes a `.creds` file (0600) for a new user with these permissions; returns its path. */
  userCreds(name: string, pub: string[], sub: string[]): string {
    const user = nkeys.createUser();
    const jwt = natsJwt(this.#account, user.getPublicKey(), name, {
      type: "user",
      pub: { allow: pub },
      sub: { allow: sub },
      subs: -1,
      data: -1,
      payload: -1,
    });
    const path = `${this.#dir}/${name}.creds`;
    Deno.writeTextFileSync(path, credsText(jwt, user.getSeed()), { mode: 0o600 });
    return path;
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#child.status;
  }
}

/** Writes a bridge config; returns its path. */
export function writeBridgeConfig(
  path: string,
  o: {
    url: string;
    creds: string;
    socket: string;
    subject: string;
    maxBytes?: number;
    limit?: number;
    timeoutMs?: number;
  },
): string {
  const q = JSON.stringify;
  Deno.writeTextFileSync(
    path,
    [
      "[nats]",
      `url = ${q(o.url)}`,
      `creds = ${q(o.creds)}`,
      "[basil]",
      `socket = ${q(o.socket)}`,
      ...(o.timeoutMs === undefined ? [] : [`timeout-ms = ${o.timeoutMs}`]),
      "[bridge]",
      `request-subject = ${q(o.subject)}`,
      `queue-group = "basil-bridge"`,
      `max-message-bytes = ${o.maxBytes ?? 65536}`,
      `concurrency-limit = ${o.limit ?? 4}`,
      "",
    ].join("\n"),
  );
  return path;
}

/** `basil nats-bridge -c FILE` as a process, with its stderr lines observable. */
export class RunningBridge {
  readonly child: Deno.ChildProcess;
  stderr = "";
  readonly #signal = new Signal();
  readonly #drained: Promise<void>;
  #ended = false;

  constructor(config: string, viaEnv = false) {
    const [cmd, ...args] = basilCommand(viaEnv ? ["nats-bridge"] : ["nats-bridge", "-c", config]);
    const child = new Deno.Command(cmd!, {
      args,
      cwd: ROOT,
      env: viaEnv ? { NO_COLOR: "1", BASIL_NATS_BRIDGE_CONFIG: config } : { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.child = child;
    const dec = new TextDecoder();
    this.#drained = (async () => {
      for await (const c of child.stderr) {
        this.stderr += dec.decode(c, { stream: true });
        this.#signal.changed();
      }
      this.#ended = true;
      this.#signal.changed();
    })();
  }

  /** Waits for a log line containing `text`; fails if the bridge ends first. */
  async waitFor(text: string): Promise<void> {
    await this.#signal.until(() => this.stderr.includes(text) || this.#ended, text);
    if (!this.stderr.includes(text)) {
      throw new Error(`bridge ended before "${text}":\n${this.stderr}`);
    }
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* gone */ }
    const s = await this.child.status;
    await this.#drained;
    return s.code;
  }
}

/**
 * A stand-in agent serving only InvocationService.Invoke on a unix socket.
 * The request's first byte picks the behaviour: `T` never answers, `I`
 * fails INTERNAL, `H` is held until {@linkcode FakeAgent.releaseAll};
 * anything else answers at once. Answers echo the request reversed.
 */
export class FakeAgent {
  readonly socket: string;
  readonly #server: http2.Http2Server;
  readonly held: (() => void)[] = [];
  readonly signal = new Signal();
  inFlight = 0;
  maxInFlight = 0;
  calls = 0;

  constructor(socket: string) {
    this.socket = socket;
    this.#server = http2.createServer();
    this.#server.on("stream", (stream: http2.ServerHttp2Stream) => {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("error", () => {});
      stream.on("end", () => {
        const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let off = 0;
        for (const c of chunks) all.set(c, (off += c.length) - c.length);
        const req = fromBinary(SealedRequestSchema, all.subarray(5));
        this.calls++;
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        this.signal.changed();
        const done = () => {
          this.inFlight--;
          this.signal.changed();
        };
        const first = req.message[0];
        if (first === 0x54 /* T */) {
          stream.on("close", done);
          return;
        }
        if (first === 0x49 /* I */) {
          done();
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
            waitForTrailers: true,
          });
          stream.on(
            "wantTrailers",
            () => stream.sendTrailers({ "grpc-status": "13", "grpc-message": "stand-in failure" }),
          );
          stream.end();
          return;
        }
        const answer = () => {
          done();
          if (stream.closed) return;
          const body = toBinary(
            SealedResponseSchema,
            create(SealedResponseSchema, { message: req.message.slice().reverse() }),
          );
          const framed = new Uint8Array(5 + body.length);
          new DataView(framed.buffer).setUint32(1, body.length);
          framed.set(body, 5);
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
            waitForTrailers: true,
          });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(framed);
        };
        if (first === 0x48 /* H */) {
          this.held.push(answer);
          this.signal.changed();
        } else answer();
      });
    });
  }

  /** Listens on the socket. */
  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.socket, () => resolve()));
  }

  /** Answers every held call. */
  releaseAll(): void {
    for (const a of this.held.splice(0)) a();
  }

  /** Closes the server. */
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export { AUDIENCE, SEALED_CONFIG, sealedCatalog } from "../helpers/invocation.ts";

/** The NATS client's Ed25519 seed (its sealed-invocation identity). */
export const CLIENT_SEED = new Uint8Array(32).fill(0x22);
/** The operator (uid) may manage inv.* and broker.* keys; the sealed actor may sign app.sign. */
export function sealedPolicy(uid: number, clientPub: Uint8Array): unknown {
  return ({
    schemaVersion: 2,
    subjects: {
      operator: { anyOf: [{ kind: "unix", uid }] },
      "nats.client": {
        anyOf: [{
          kind: "signature-key",
          algorithm: "ed25519",
          public: toBase64Url(clientPub),
        }],
      },
    },
    rules: [
      // The bridge runs as this uid: it may only present, never act, on app.sign.
      { id: "operator", subjects: ["operator"], action: ["*"], target: ["inv.*", "broker.*"] },
      {
        id: "operator-read",
        subjects: ["operator"],
        action: ["op:get_public_key"],
        target: ["app.sign"],
      },
      {
        id: "client-open",
        subjects: ["nats.client"],
        action: ["op:decrypt"],
        target: ["inv.request"],
      },
      {
        id: "client-sign",
        subjects: ["nats.client"],
        action: ["op:sign"],
        target: ["app.sign"],
      },
    ],
  });
}
