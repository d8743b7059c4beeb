/**
 * Agent configuration field parsers (contract §1): socket-mode forms,
 * jwks.listen, jwks.issuer SSRF-shaped URLs and broker-identity.id.
 */

import assert from "node:assert/strict";
import { parseSocketMode } from "../../../lib/config/load.ts";
import { assertConfigError, INPUTS, load } from "./helpers.ts";

Deno.test("socket-mode: octal strings, 0o strings, bare octal digits, raw integers", () => {
  const good: [string | number, number][] = [
    ["0660", 0o660],
    ["0o660", 0o660],
    ["660", 0o660],
    ["0600", 0o600],
    ["0", 0],
    ["0777", 0o777],
    [" 0640 ", 0o640],
    [432, 0o660],
    [0, 0],
    [0o777, 0o777],
  ];
  for (const [v, mode] of good) assert.equal(parseSocketMode(v, "f.toml"), mode, String(v));
});

Deno.test("socket-mode: bad digits, special bits, negative and non-integers are rejected", () => {
  for (const v of ["0999", "010000", "10000", "0o10000", "", "rw-rw----", "0x1b0", "-1", "06 60"]) {
    assertConfigError(() => parseSocketMode(v, "f.toml"), "socket-mode", /octal|0o777/, "f.toml");
  }
  // Only permission bits: setuid/setgid/sticky mean nothing on a socket.
  for (const v of ["07777", "7777", "01660", "0o4600"]) {
    assertConfigError(() => parseSocketMode(v, "f.toml"), "socket-mode", /at most 0o777/, "f.toml");
  }
  for (const v of [-1, 4095, 0o1000, 0o10000, 1.5, Number.NaN]) {
    assertConfigError(() => parseSocketMode(v, "f.toml"), "socket-mode", /0o777/, "f.toml");
  }
});

Deno.test("socket-mode in the file: string, TOML octal and integer forms", () => {
  assert.equal(load(`${INPUTS}socket-mode = "0o640"\n`).socketMode, 0o640);
  assert.equal(load(`${INPUTS}socket-mode = 0o660\n`).socketMode, 0o660);
  assert.equal(load(`${INPUTS}socket-mode = 432\n`).socketMode, 0o660);
  assertConfigError(() => load(`${INPUTS}socket-mode = "0999"\n`), "socket-mode", /octal/);
  assertConfigError(() => load(`${INPUTS}socket-mode = -1\n`), "socket-mode", /0o777/);
  assertConfigError(() => load(`${INPUTS}socket-mode = 1.5\n`), "socket-mode", /./);
  assertConfigError(() => load(`${INPUTS}socket-mode = true\n`), "socket-mode", /./);
  // The classic mistake: decimal 600 is 0o1130, not 0600. The error says so
  // and names the forms that work.
  const e = assertConfigError(
    () => load(`${INPUTS}socket-mode = 600\n`),
    "socket-mode",
    /the integer 600 is decimal, i\.e\. 0o1130/,
  );
  assert.match(e.message, /0o600/);
  assert.match(e.message, /"0600"/);
});

Deno.test("jwks.listen: parsed even when disabled; ip:port only", () => {
  const good: [string, string, number][] = [
    ["127.0.0.1:8201", "127.0.0.1", 8201],
    ["0.0.0.0:1", "0.0.0.0", 1],
    ["[::1]:8201", "::1", 8201],
    ["[::]:65535", "::", 65535],
    ["[fd00::1:2]:443", "fd00::1:2", 443],
    ["localhost:8201", "localhost", 8201],
  ];
  for (const [v, host, port] of good) {
    assert.deepEqual(load(`${INPUTS}[jwks]\nlisten = "${v}"\n`).jwks.listen, { host, port }, v);
  }
  const bad = [
    "",
    "8201",
    "127.0.0.1",
    "127.0.0.1:",
    "127.0.0.1:0",
    "127.0.0.1:65536",
    "127.0.0.1:99999",
    "256.0.0.1:80",
    "1.2.3:80",
    "1.2.3.4.5:80",
    "01.2.3.4:80",
    "::1:8201",
    "[::1]",
    "[:::::]:80",
    "[zz::1]:80",
    "example.com:80",
    "http://127.0.0.1:8201",
    " 127.0.0.1:8201",
  ];
  for (const v of bad) {
    assertConfigError(
      () => load(`${INPUTS}[jwks]\nenable = false\nlisten = "${v}"\n`),
      "jwks.listen",
      /ip:port/,
    );
  }
});

Deno.test("jwks.issuer: http(s) URLs are kept, minus a trailing slash", () => {
  const good: [string, string][] = [
    ["https://issuer.example.com/", "https://issuer.example.com"],
    ["https://issuer.example.com", "https://issuer.example.com"],
    ["http://10.0.0.5:8080/spiffe/", "http://10.0.0.5:8080/spiffe"],
    ["https://[2001:db8::1]/", "https://[2001:db8::1]"],
    ["https://example.com/path?x=1", "https://example.com/path?x=1"],
    ["https://169.254.example.com/", "https://169.254.example.com"],
    ["https://[fec0::1]/", "https://[fec0::1]"],
  ];
  for (const [v, want] of good) {
    assert.equal(load(`${INPUTS}[jwks]\nissuer = "${v}"\n`).jwks.issuer, want, v);
  }
});

Deno.test("jwks.issuer: metadata, link-local, userinfo, fragment and non-http are rejected", () => {
  const bad = [
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal/",
    "http://metadata.google.internal./",
    "http://metadata/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1/",
    "http://2852039166/",
    "http://0xA9FEA9FE/",
    "http://169.254.169.254.:80/",
    "http://[fe80::1]/",
    "http://[FE80::a:b]/",
    "http://[febf::1]/",
    "http://[fe90::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::ffff:100.100.100.200]/",
    "http://100.100.100.200/",
    "https://user@issuer.example.com/",
    "https://user:pw@issuer.example.com/",
    "https://:pw@issuer.example.com/",
    "https://@issuer.example.com/",
    "https://issuer.example.com/#frag",
    "https://issuer.example.com/#",
    "ftp://issuer.example.com/",
    "file:///etc/passwd",
    "spiffe://example.org",
    "issuer.example.com",
    "/relative/path",
    "",
  ];
  for (const v of bad) {
    assertConfigError(
      () => load(`${INPUTS}[jwks]\nissuer = "${v}"\n`),
      "jwks.issuer",
      /http|URL/,
    );
  }
});

Deno.test("jwks.tls needs cert-file and key-file when enabled", () => {
  assertConfigError(
    () => load(`${INPUTS}[jwks.tls]\nenable = true\ncert-file = "c.pem"\n`),
    "jwks.tls",
    /cert-file and key-file/,
  );
});

Deno.test("broker-identity.id must be basil://host/non-empty-path", () => {
  const table = (id: string) =>
    `${INPUTS}[broker-identity]\nid = "${id}"\nresponse-signing-key-id = "broker.sign"\n`;
  for (const id of ["basil://host1/broker", "basil://h.example:7/a/b", "basil://h/x/"]) {
    load(table(id));
  }
  for (
    const id of [
      "basil://host1/",
      "basil://host1",
      "basil:///path",
      "https://host1/broker",
      "basil://user@host1/broker",
      "basil://host1/broker?x=1",
      "basil://host1/broker#f",
      "",
    ]
  ) {
    assertConfigError(() => load(table(id)), "broker-identity.id", /basil:\/\//);
  }
});
