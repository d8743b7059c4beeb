/**
 * The parts of libnghttp2's C ABI (`nghttp2.h`, soname `libnghttp2.so.14`,
 * x86_64/aarch64 LP64) that `nghttp2.ts` reads or writes by offset, plus the
 * protocol constants it uses. tests/unit/ffi/nghttp2_abi_test.ts compiles a
 * C program against the installed header and compares every value here.
 * @module
 */

/** `nghttp2_frame_hd { size_t length; int32_t stream_id; uint8_t type, flags, reserved; }` */
export const FRAME_HD = { SIZE: 16, LENGTH: 0, STREAM_ID: 8, TYPE: 12, FLAGS: 13 } as const;

/** `offsetof(nghttp2_headers, cat)`: the headers category of a HEADERS frame. */
export const HEADERS_CAT_OFFSET = 56;

/** `nghttp2_nv { uint8_t *name, *value; size_t namelen, valuelen; uint8_t flags; }` */
export const NV = { SIZE: 40, NAME: 0, VALUE: 8, NAMELEN: 16, VALUELEN: 24, FLAGS: 32 } as const;

/** `sizeof(nghttp2_data_provider)`: `{ nghttp2_data_source source; read_callback; }`, callback at 8. */
export const DATA_PROVIDER_SIZE = 16;

/** `sizeof(nghttp2_settings_entry)`: `{ int32_t settings_id; uint32_t value; }` */
export const SETTINGS_ENTRY_SIZE = 8;

/** Library error codes (`nghttp2_error`). */
export const ERR = {
  WOULDBLOCK: -504,
  DEFERRED: -508,
  INVALID_STATE: -519,
  TEMPORAL_CALLBACK_FAILURE: -521,
  CALLBACK_FAILURE: -902,
  BAD_CLIENT_MAGIC: -903,
  FLOODED: -904,
} as const;

/** `nghttp2_data_flag` bits, set by a DATA source. */
export const DATA_FLAG = { EOF: 1, NO_END_STREAM: 2, NO_COPY: 4 } as const;

/** Frame types (RFC 9113 §6). */
export const FRAME_TYPE = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** Frame flags (RFC 9113 §6). */
export const FRAME_FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

/** HTTP/2 error codes (RFC 9113 §7). */
export const H2_ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  ENHANCE_YOUR_CALM: 11,
} as const;

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const SETTINGS_ID = {
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;
