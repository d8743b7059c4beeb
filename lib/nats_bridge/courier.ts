/**
 * What the bridge does with one NATS message (contract §11.5), free of I/O:
 * it checks only the transport shape (a reply subject, a non-empty payload
 * within `max-message-bytes`), hands the bytes unread to the agent as a
 * SealedRequest, and answers with the SealedResponse's bytes on its
 * `response_subject` or the reply subject. When there is no sealed
 * response, the answer is an empty payload with the `Basil-Bridge-*`
 * headers. The bridge never parses, decrypts or authorizes the payload.
 * @module
 */

import { isConcreteSubject } from "./config.ts";
import type { InvokeFailureKind, Invoker } from "./invoker.ts";

/** Header carrying the stable error token. */
export const ERROR_HEADER = "Basil-Bridge-Error";
/** Header carrying operator-facing detail. */
export const MESSAGE_HEADER = "Basil-Bridge-Message";
/** Header carrying `true` when retrying the same request may succeed. */
export const RETRYABLE_HEADER = "Basil-Bridge-Retryable";

/** The stable bridge error tokens. */
export type BridgeErrorCode =
  | "MALFORMED_REQUEST"
  | "MESSAGE_TOO_LARGE"
  | "BASIL_UNAVAILABLE"
  | "BASIL_REJECTED"
  | "TIMEOUT"
  | "INTERNAL";

/** A bridge-level failure: no trusted sealed response exists. */
export interface BridgeError {
  readonly code: BridgeErrorCode;
  readonly message: string;
  readonly retryable: boolean;
}

/** The bridge's answer to one message. */
export type CourierAction =
  | {
    readonly kind: "reply";
    readonly subject: string;
    /** The sealed response bytes; empty when `error` is set. */
    readonly payload: Uint8Array;
    readonly error: BridgeError | undefined;
  }
  /** No reply subject: nothing can be answered; the error is only logged. */
  | { readonly kind: "drop"; readonly error: BridgeError };

/** An inbound NATS message as the courier sees it. */
export interface InboundMessage {
  readonly reply: string | undefined;
  readonly data: Uint8Array;
}

const FAILURE: Record<InvokeFailureKind, { code: BridgeErrorCode; retryable: boolean }> = {
  unavailable: { code: "BASIL_UNAVAILABLE", retryable: true },
  rejected: { code: "BASIL_REJECTED", retryable: false },
  timeout: { code: "TIMEOUT", retryable: true },
  internal: { code: "INTERNAL", retryable: true },
};

const MAX_HEADER_TEXT = 256;

/** A header-safe rendering: printable ASCII only, bounded length. */
export function headerText(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > MAX_HEADER_TEXT ? clean.slice(0, MAX_HEADER_TEXT - 3) + "..." : clean;
}

/** The three `Basil-Bridge-*` headers of an error reply. */
export function errorHeaders(e: BridgeError): [string, string][] {
  return [
    [ERROR_HEADER, e.code],
    [MESSAGE_HEADER, headerText(e.message)],
    [RETRYABLE_HEADER, e.retryable ? "true" : "false"],
  ];
}

function errorReply(
  subject: string,
  code: BridgeErrorCode,
  message: string,
  retryable: boolean,
): CourierAction {
  return {
    kind: "reply",
    subject,
    payload: new Uint8Array(0),
    error: { code, message, retryable },
  };
}

/** Handles one message: the action to publish (never throws). */
export async function handleMessage(
  msg: InboundMessage,
  maxMessageBytes: number,
  invoker: Invoker,
): Promise<CourierAction> {
  const reply = msg.reply;
  if (reply === undefined || reply === "") {
    return {
      kind: "drop",
      error: {
        code: "MALFORMED_REQUEST",
        message: "the NATS message has no reply subject",
        retryable: false,
      },
    };
  }
  if (msg.data.length === 0) {
    return errorReply(reply, "MALFORMED_REQUEST", "the request payload is empty", false);
  }
  if (msg.data.length > maxMessageBytes) {
    return errorReply(
      reply,
      "MESSAGE_TOO_LARGE",
      `the request payload is ${msg.data.length} bytes, over the bridge's ${maxMessageBytes}`,
      false,
    );
  }
  let outcome;
  try {
    outcome = await invoker.invoke(msg.data);
  } catch (e) {
    const what = e instanceof Error ? e.name : "unexpected failure";
    return errorReply(reply, "INTERNAL", `bridge failure: ${what}`, true);
  }
  if (!outcome.ok) {
    const f = FAILURE[outcome.kind];
    return errorReply(reply, f.code, outcome.detail, f.retryable);
  }
  if (outcome.response.message.length === 0) {
    return errorReply(reply, "INTERNAL", "the agent sent an empty sealed response", true);
  }
  const target = outcome.response.responseSubject;
  if (target !== undefined && !isConcreteSubject(target)) {
    return errorReply(
      reply,
      "MALFORMED_REQUEST",
      "the sealed response names a response_subject that is not one concrete subject",
      false,
    );
  }
  return {
    kind: "reply",
    subject: target ?? reply,
    payload: outcome.response.message,
    error: undefined,
  };
}
