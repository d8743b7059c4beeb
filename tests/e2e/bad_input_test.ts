/**
 * Bad input gets a clear error and loses nothing. Malformed config, catalog,
 * policy and bundle files stop the agent with one line naming the file, the
 * field and the reason (no socket, exit 1). Malformed gRPC requests (garbage,
 * wrong wire types, missing or oversized fields, unknown methods, garbage
 * bytes on the socket) get the right status, and the next good request works.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  GetSecretRequestSchema,
  SetSecretRequestSchema,
} from "../../lib/wire/basil/broker/v1/broker_pb.ts";
import { appPolicy, Fixture, runAgentToExit, valueCatalog } from "../helpers/fixture.ts";
import { rawUnary } from "../helpers/rawgrpc.ts";

type Mutate = (f: Fixture) => void;

const edit = (path: string, fn: (text: string) => string) => (f: Fixture) => {
  const p = path.replace("{dir}", f.dir);
  Deno.writeTextFileSync(p, fn(Deno.readTextFileSync(p)));
};
// deno-lint-ignore no-explicit-any
type Json = any;
const catalogWith = (fn: (c: Json) => void): Mutate => (f) => {
  const c = valueCatalog() as Json;
  fn(c);
  Deno.writeTextFileSync(f.catalog, JSON.stringify(c).replaceAll("${DB}", f.db));
};
const policyWith = (fn: (p: Json) => void): Mutate => (f) => {
  const p = appPolicy(Deno.uid()!) as Json;
  fn(p);
  Deno.writeTextFileSync(f.policy, JSON.stringify(p));
};

const FILE_CASES: [string, Mutate, RegExp][] = [
  [
    "config: unknown key",
    edit("{dir}/basil-agent.toml", (t) => `soket = "/x"\n${t}`),
    /basil-agent\.toml: .*unknown field "soket"/,
  ],
  [
    "config: wrong type",
    edit("{dir}/basil-agent.toml", (t) => t.replace(/socket-mode = .*/, 'socket-mode = "abc"')),
    /basil-agent\.toml: socket-mode: must be an octal string/,
  ],
  [
    "config: unknown socket-group (names the config file)",
    edit("{dir}/basil-agent.toml", (t) => `socket-group = "no-such-group-basil"\n${t}`),
    /^basil agent: \/.*\/basil-agent\.toml: socket-group: no such group "no-such-group-basil"$/,
  ],
  [
    "config: decimal socket-mode 600",
    edit("{dir}/basil-agent.toml", (t) => t.replace(/socket-mode = .*/, "socket-mode = 600")),
    /basil-agent\.toml: socket-mode: must be at most 0o777.*decimal.*0o600/,
  ],
  [
    "config: retain-versions below grace-versions + 1",
    edit("{dir}/basil-agent.toml", (t) => `grace-versions = 2\nretain-versions = 2\n${t}`),
    /basil-agent\.toml: retain-versions: 2 is less than grace-versions \+ 1 \(3\)/,
  ],
  [
    "catalog: relative keystore addr",
    catalogWith((c) => (c.backends.db.addr = "keystore.db")),
    /catalog\.json: backends\.db\.addr: the db-keystore file must be an absolute path/,
  ],
  [
    "catalog: two keys on one backend path",
    catalogWith((c) => (c.keys["app.api_token"].path = "app/db-password")),
    /keys\["app\.api_token"\]\.path: .* already used by keys\["app\.db_password"\]/,
  ],
  [
    "config: malformed TOML",
    edit("{dir}/basil-agent.toml", (t) => `${t}\n[unlock\n`),
    /basil-agent\.toml: malformed TOML/,
  ],
  [
    "config: unknown [unlock] key",
    edit("{dir}/basil-agent.toml", (t) => `${t}\nunlock-pasphrase = true\n`),
    /unlock: unknown field "unlock-pasphrase"/,
  ],
  [
    "config: catalog missing",
    edit("{dir}/basil-agent.toml", (t) => t.replace(/^catalog = .*$/m, "")),
    /catalog: required .*--catalog or BASIL_CATALOG/,
  ],
  [
    "catalog: unknown field",
    catalogWith((c) => (c.keys["app.api_token"].colour = "red")),
    /catalog\.json: keys\["app\.api_token"\]: unknown field "colour"/,
  ],
  [
    "catalog: missing writable",
    catalogWith((c) => delete c.keys["app.api_token"].writable),
    /keys\["app\.api_token"\]\.writable: required field is missing/,
  ],
  [
    "catalog: bad key name",
    catalogWith((c) => (c.keys["App.Bad"] = c.keys["app.api_token"])),
    /keys\["App\.Bad"\]: bad key name/,
  ],
  [
    "catalog: schemaVersion",
    catalogWith((c) => (c.schemaVersion = 2)),
    /catalog\.json: schemaVersion: unsupported value, must be 1/,
  ],
  [
    "catalog: unknown backend",
    catalogWith((c) => (c.keys["app.api_token"].backend = "nope")),
    /keys\["app\.api_token"\]\.backend: names no declared backend/,
  ],
  [
    "catalog: malformed JSON",
    (f) => Deno.writeTextFileSync(f.catalog, '{"schemaVersion": 1,'),
    /catalog\.json: \(top level\): malformed JSON/,
  ],
  [
    "policy: unknown subject",
    policyWith((p) => (p.rules[0].subjects = ["ghost"])),
    /policy\.json: rules\[0\]\.subjects\[0\]: unknown subject "ghost"/,
  ],
  [
    "policy: bad glob",
    policyWith((p) => (p.rules[0].target = ["app.we*"])),
    /rules\[0\]\.target\[0\]: wildcards must be a whole segment/,
  ],
  [
    "policy: match-all without breakGlass",
    policyWith((p) => (p.rules[0].target = ["*"])),
    /rules\[0\]\.target\[0\]: a match-all target is only allowed/,
  ],
  [
    "policy: unknown op",
    policyWith((p) => (p.rules[0].action = ["op:invoke"])),
    /rules\[0\]\.action\[0\]: unknown op "invoke"/,
  ],
  ["bundle: bad magic", (f) => {
    const b = Deno.readFileSync(f.bundle);
    b[0] = 0x58;
    Deno.writeFileSync(f.bundle, b);
  }, /bundle .*bundle\.sealed: corrupt or truncated/],
  ["bundle: truncated", (f) => {
    const b = Deno.readFileSync(f.bundle);
    Deno.writeFileSync(f.bundle, b.slice(0, b.length - 40));
  }, /bundle .*bundle\.sealed: corrupt or truncated/],
  [
    "bundle: wrong passphrase",
    (f) => Deno.writeTextFileSync(f.passphrase, "wrong"),
    /bundle .*: no configured unlock slot opened it \(tried: passphrase\)/,
  ],
  ["bundle: loose perms under strict", (f) => {
    edit("{dir}/basil-agent.toml", (t) => `${t}strict-bundle-perms = true\n`)(f);
    Deno.chmodSync(f.bundle, 0o644);
  }, /bundle .*: mode is 0644, must be 0600/],
  [
    "audit-log: unopenable",
    edit(
      "{dir}/basil-agent.toml",
      (t) => t.replace(/^audit-log = .*$/m, 'audit-log = "/nonexistent/dir/audit.jsonl"'),
    ),
    /audit-log \/nonexistent\/dir\/audit\.jsonl: cannot open for append: no such file/,
  ],
  [
    "socket: missing directory",
    edit(
      "{dir}/basil-agent.toml",
      (t) => t.replace(/^socket = .*$/m, 'socket = "/nonexistent/dir/basil.sock"'),
    ),
    /socket \/nonexistent\/dir\/basil\.sock: cannot bind: its directory does not exist/,
  ],
];

for (const [name, mutate, expected] of FILE_CASES) {
  Deno.test(`agent refuses to start: ${name}`, async () => {
    const f = await Fixture.create();
    try {
      mutate(f);
      const r = await runAgentToExit(f);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("basil agent:"));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, expected);
      assert.throws(() => Deno.lstatSync(f.socket), Deno.errors.NotFound);
      assert.throws(() => Deno.lstatSync(f.db), Deno.errors.NotFound, "nothing written");
    } finally {
      f.cleanup();
    }
  });
}

const GET = "/basil.broker.v1.SecretService/GetSecret";
const SET = "/basil.broker.v1.SecretService/SetSecret";

Deno.test("malformed gRPC requests get the right status and the agent keeps serving", async () => {
  const f = await Fixture.create({ configExtra: "max-payload-size = 4096" });
  const a = await f.start();
  const good = toBinary(
    GetSecretRequestSchema,
    create(GetSecretRequestSchema, { secretId: "app.db_password" }),
  );
  const assertGood = async () => {
    const r = await rawUnary(f.socket, GET, good);
    assert.equal(r.code, "OK", JSON.stringify(r));
  };
  try {
    const cases: [string, string, Uint8Array, string, string | undefined, RegExp][] = [
      [
        "garbage bytes",
        GET,
        new Uint8Array([0xff, 0xff, 0xff, 0xff]),
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
        /malformed request message/,
      ],
      [
        "wrong wire type",
        GET,
        new Uint8Array([0x08, 0x05]),
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
        /malformed request message/,
      ],
      [
        "invalid UTF-8 id",
        GET,
        new Uint8Array([0x0a, 0x02, 0xff, 0xfe]),
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
        /malformed request message/,
      ],
      [
        "truncated field",
        GET,
        new Uint8Array([0x0a, 0x10, 0x61]),
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
        /malformed request message/,
      ],
      [
        "missing id",
        GET,
        new Uint8Array(),
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
        /secret_id is required/,
      ],
      [
        "version 0",
        GET,
        toBinary(
          GetSecretRequestSchema,
          create(GetSecretRequestSchema, { secretId: "app.db_password", version: 0 }),
        ),
        "INVALID_ARGUMENT",
        "INVALID_REQUEST",
        /version must be at least 1/,
      ],
      [
        "value over the cap",
        SET,
        toBinary(
          SetSecretRequestSchema,
          create(SetSecretRequestSchema, {
            secretId: "app.api_token",
            value: new Uint8Array(4097),
          }),
        ),
        "RESOURCE_EXHAUSTED",
        "PAYLOAD_TOO_LARGE",
        /value exceeds the 4096-byte limit/,
      ],
      [
        "message over the transport limit",
        SET,
        toBinary(
          SetSecretRequestSchema,
          create(SetSecretRequestSchema, {
            secretId: "app.api_token",
            value: new Uint8Array(2 * 1024 * 1024),
          }),
        ),
        "RESOURCE_EXHAUSTED",
        undefined,
        /./,
      ],
      [
        "unknown method",
        "/basil.broker.v1.SecretService/DropTables",
        good,
        "UNIMPLEMENTED",
        undefined,
        /./,
      ],
      ["unknown service", "/evil.Service/Get", good, "UNIMPLEMENTED", undefined, /./],
    ];
    for (const [name, path, body, code, reason, msg] of cases) {
      const r = await rawUnary(f.socket, path, body);
      assert.equal(r.code, code, `${name}: ${JSON.stringify(r)}`);
      assert.equal(r.reason, reason, name);
      assert.match(r.details, msg, name);
      await assertGood();
    }
    // At the cap exactly: accepted.
    const atCap = await rawUnary(
      f.socket,
      SET,
      toBinary(
        SetSecretRequestSchema,
        create(SetSecretRequestSchema, {
          secretId: "app.api_token",
          value: new Uint8Array(4096).fill(0x61),
        }),
      ),
    );
    assert.equal(atCap.code, "OK");

    // Garbage on the socket itself: the connection dies, the agent does not.
    const payloads = [
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      crypto.getRandomValues(new Uint8Array(4096)),
      new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"),
      new Uint8Array(0),
    ];
    for (const p of payloads) {
      await new Promise<void>((resolve) => {
        // Once the garbage is handed to the kernel the client hangs up; the agent still
        // reads all of it, then EOF.
        const s = net.connect(f.socket, () => {
          s.write(p, () => s.destroy());
        });
        s.on("error", () => {});
        s.on("close", () => resolve());
      });
      await assertGood();
    }
  } finally {
    const { code, stderr } = await a.stop();
    assert.equal(code, 0, stderr);
    f.cleanup();
  }
});

Deno.test("CLI usage errors exit 2 with a message", async () => {
  const f = await Fixture.create();
  try {
    for (
      const [args, msg] of [
        [["get"], /required option '--key-id <id>' not specified/],
        [
          ["get", "--key-id", "x", "--version", "abc"],
          /--version <n>.*must be a non-negative integer/,
        ],
        [
          ["get", "--key-id", "x", "--format", "yaml"],
          /Allowed choices are raw, hex, base64, base64-url-no-pad/,
        ],
        [["frobnicate"], /unknown command 'frobnicate'/],
        [["set", "--key-id", "x"], /no value/],
      ] as [string[], RegExp][]
    ) {
      const r = await f.cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
  } finally {
    f.cleanup();
  }
});
