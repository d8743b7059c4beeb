/**
 * The bridge's TOML (contract §11.5): the documented shape parses, relative
 * paths resolve against the file, and every bad field is an error naming it.
 */

import assert from "node:assert/strict";
import { InputError } from "../../../lib/core/errors.ts";
import { isConcreteSubject, parseBridgeConfig } from "../../../lib/nats_bridge/config.ts";

const FILE = "/etc/basil/bridge.toml";

const GOOD = `
[nats]
url = "nats://127.0.0.1:4222"
creds = "bridge.creds"

[basil]
socket = "/run/basil/basil.sock"

[bridge]
request-subject = "basil.invocation"
queue-group = "basil-bridge"
max-message-bytes = 1048576
concurrency-limit = 8
`;

function rejects(text: string, field: string): void {
  assert.throws(() => parseBridgeConfig(text, FILE), (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.match(e.message, new RegExp(`^${FILE}: .*${field.replace(/[.[\]]/g, "\\$&")}`));
    return true;
  });
}

Deno.test("the contract's example parses; relative creds resolve against the file", () => {
  const c = parseBridgeConfig(GOOD, FILE);
  assert.deepEqual(c, {
    natsServers: ["nats://127.0.0.1:4222"],
    creds: "/etc/basil/bridge.creds",
    socket: "/run/basil/basil.sock",
    timeoutMs: 30_000,
    requestSubject: "basil.invocation",
    queueGroup: "basil-bridge",
    maxMessageBytes: 1048576,
    concurrencyLimit: 8,
  });
});

Deno.test("creds and queue-group are optional", () => {
  const c = parseBridgeConfig(
    GOOD.replace(/creds = .*\n/, "").replace(/queue-group = .*\n/, ""),
    FILE,
  );
  assert.equal(c.creds, undefined);
  assert.equal(c.queueGroup, undefined);
});

Deno.test("unknown keys are rejected in every table, naming the field", () => {
  rejects(GOOD + "extra = 1\n", '"extra"');
  rejects(GOOD.replace("[nats]\n", '[nats]\nuser = "x"\n'), "nats");
  rejects(GOOD.replace("[basil]\n", "[basil]\nmode = 1\n"), "basil");
  rejects(GOOD.replace("[bridge]\n", '[bridge]\nreply-subject = "a"\n'), "bridge");
  rejects(GOOD + "[jetstream]\n", '"jetstream"');
});

Deno.test("required fields are named when missing", () => {
  rejects(GOOD.replace(/url = .*\n/, ""), "nats.url");
  rejects(GOOD.replace(/socket = .*\n/, ""), "basil.socket");
  rejects(GOOD.replace(/request-subject = .*\n/, ""), "bridge.request-subject");
  rejects(GOOD.replace(/max-message-bytes = .*\n/, ""), "bridge.max-message-bytes");
  rejects(GOOD.replace(/concurrency-limit = .*\n/, ""), "bridge.concurrency-limit");
});

Deno.test("bounds and shapes are checked", () => {
  rejects(GOOD.replace("1048576", "0"), "bridge.max-message-bytes");
  rejects(GOOD.replace("1048576", String(64 * 1024 * 1024 + 1)), "bridge.max-message-bytes");
  rejects(
    GOOD.replace("concurrency-limit = 8", "concurrency-limit = 0"),
    "bridge.concurrency-limit",
  );
  rejects(
    GOOD.replace("concurrency-limit = 8", "concurrency-limit = 257"),
    "bridge.concurrency-limit",
  );
  rejects(GOOD.replace('"basil.invocation"', '"basil.*"'), "bridge.request-subject");
  rejects(GOOD.replace('"basil.invocation"', '"basil..x"'), "bridge.request-subject");
  rejects(GOOD.replace('"basil.invocation"', '"  "'), "bridge.request-subject");
  rejects(GOOD.replace('"basil-bridge"', '"a b"'), "bridge.queue-group");
  rejects(GOOD.replace('"nats://127.0.0.1:4222"', '""'), "nats.url");
  rejects(GOOD.replace('"nats://127.0.0.1:4222"', '"http://h:1"'), "nats.url");
  rejects(GOOD.replace('"nats://127.0.0.1:4222"', '"nats://u:p@h:1"'), "nats.url");
  rejects(GOOD.replace('"/run/basil/basil.sock"', '""'), "basil.socket");
  rejects(
    GOOD.replace("max-message-bytes = 1048576", 'max-message-bytes = "1"'),
    "bridge.max-message-bytes",
  );
});

Deno.test("malformed TOML reports the line, not the text", () => {
  assert.throws(
    () => parseBridgeConfig('[nats]\nurl = "nats://h:1"\nsecret = "s3cret\n', FILE),
    (e: unknown) =>
      e instanceof InputError && /line/.test(e.message) && !e.message.includes("s3cret"),
  );
});

Deno.test("concrete subjects", () => {
  for (const s of ["a", "a.b", "_INBOX.x1", "tenant.reply-1"]) assert.ok(isConcreteSubject(s), s);
  for (const s of ["", "a.", ".a", "a..b", "a.*", "a.>", "a b", "a\tb", "a*"]) {
    assert.ok(!isConcreteSubject(s), s);
  }
});
