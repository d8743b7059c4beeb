/**
 * Native journald entries (`[logging.journald]`): each log line becomes one
 * datagram to the journal socket in the native protocol, with `MESSAGE`,
 * `PRIORITY` (syslog: error 3, warn 4, info 6, debug 7),
 * `SYSLOG_IDENTIFIER=basil`, and each structured field as `BASIL_<NAME>`
 * (upper-cased, other characters as `_`). Values with a newline use the
 * protocol's length-prefixed form. Sending never blocks and never throws: a
 * full or absent journal loses the line (counted), as the stdout sink would
 * on a broken pipe.
 * @module
 */

import type { LogFields, LogLevel } from "../core/log.ts";

/** What the journal sink needs of libc (ffi/libc.ts). */
export interface DatagramSender {
  datagramSocket(): number;
  sendDatagram(fd: number, data: Uint8Array, path: string): boolean;
  closeFd(fd: number): void;
}

const PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };
/** The journal drops larger datagrams (it wants a memfd then); lines are cut to this. */
const MAX_VALUE = 48 * 1024;
const encoder = new TextEncoder();

/** `BASIL_<NAME>` for a structured field name. */
export function journalFieldName(name: string): string {
  return `BASIL_${name.toUpperCase().replace(/[^A-Z0-9_]/g, "_")}`.slice(0, 64);
}

/** One entry in the native protocol. */
export function encodeJournalEntry(
  level: LogLevel,
  message: string,
  fields: LogFields,
  identifier = "basil",
): Uint8Array {
  const parts: Uint8Array[] = [];
  const add = (name: string, value: string) => {
    const v = encoder.encode(value.length > MAX_VALUE ? value.slice(0, MAX_VALUE) : value);
    if (!v.includes(0x0a)) {
      parts.push(encoder.encode(`${name}=`), v, encoder.encode("\n"));
      return;
    }
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(v.length), true);
    parts.push(encoder.encode(`${name}\n`), len, v, encoder.encode("\n"));
  };
  add("MESSAGE", message);
  add("PRIORITY", String(PRIORITY[level]));
  add("SYSLOG_IDENTIFIER", identifier);
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) add(journalFieldName(k), String(v));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A journal sink on one datagram socket. */
export class JournalSink {
  #fd: number;
  #failures = 0;

  constructor(private readonly libc: DatagramSender, private readonly socket: string) {
    this.#fd = libc.datagramSocket();
    if (this.#fd < 0) throw new Error("cannot create a unix datagram socket");
  }

  /** Entries the journal did not take. */
  get failures(): number {
    return this.#failures;
  }

  /** Sends one entry; returns whether the journal took it. Never throws. */
  send(level: LogLevel, message: string, fields: LogFields): boolean {
    try {
      if (
        this.#fd >= 0 &&
        this.libc.sendDatagram(this.#fd, encodeJournalEntry(level, message, fields), this.socket)
      ) {
        return true;
      }
    } catch { /* counted below */ }
    this.#failures++;
    return false;
  }

  close(): void {
    if (this.#fd >= 0) this.libc.closeFd(this.#fd);
    this.#fd = -1;
  }
}
