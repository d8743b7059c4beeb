/**
 * ffi/_nghttp2_abi.ts against the real header: a C program built with gcc
 * against `nghttp2.h` (libnghttp2-dev) prints every struct size, field
 * offset and constant ffi/nghttp2.ts reads or writes by hand, and each must
 * equal ours. Needs `--allow-run`, gcc and the header (installed in CI by
 * tools/install-peers.sh).
 */

import assert from "node:assert/strict";
import {
  DATA_FLAG,
  DATA_PROVIDER_SIZE,
  ERR,
  FRAME_FLAG,
  FRAME_HD,
  FRAME_TYPE,
  H2_ERROR,
  HEADERS_CAT_OFFSET,
  NV,
  SETTINGS_ENTRY_SIZE,
  SETTINGS_ID,
} from "../../../ffi/_nghttp2_abi.ts";
import { gated, permission } from "../../helpers/peers.ts";

const HEADER = "/usr/include/nghttp2/nghttp2.h";

const PROGRAM = `
#include <stdio.h>
#include <stddef.h>
#include <nghttp2/nghttp2.h>
#define P(name, v) printf("\\"%s\\":%ld,", name, (long)(v))
int main(void) {
  printf("{");
  P("FRAME_HD.SIZE", sizeof(nghttp2_frame_hd));
  P("FRAME_HD.LENGTH", offsetof(nghttp2_frame_hd, length));
  P("FRAME_HD.STREAM_ID", offsetof(nghttp2_frame_hd, stream_id));
  P("FRAME_HD.TYPE", offsetof(nghttp2_frame_hd, type));
  P("FRAME_HD.FLAGS", offsetof(nghttp2_frame_hd, flags));
  P("HEADERS_CAT_OFFSET", offsetof(nghttp2_headers, cat));
  P("NV.SIZE", sizeof(nghttp2_nv));
  P("NV.NAME", offsetof(nghttp2_nv, name));
  P("NV.VALUE", offsetof(nghttp2_nv, value));
  P("NV.NAMELEN", offsetof(nghttp2_nv, namelen));
  P("NV.VALUELEN", offsetof(nghttp2_nv, valuelen));
  P("NV.FLAGS", offsetof(nghttp2_nv, flags));
  P("DATA_PROVIDER_SIZE", sizeof(nghttp2_data_provider));
  P("DATA_PROVIDER.READ_CALLBACK", offsetof(nghttp2_data_provider, read_callback));
  P("SETTINGS_ENTRY_SIZE", sizeof(nghttp2_settings_entry));
  P("ERR.WOULDBLOCK", NGHTTP2_ERR_WOULDBLOCK);
  P("ERR.DEFERRED", NGHTTP2_ERR_DEFERRED);
  P("ERR.INVALID_STATE", NGHTTP2_ERR_INVALID_STATE);
  P("ERR.TEMPORAL_CALLBACK_FAILURE", NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE);
  P("ERR.CALLBACK_FAILURE", NGHTTP2_ERR_CALLBACK_FAILURE);
  P("ERR.BAD_CLIENT_MAGIC", NGHTTP2_ERR_BAD_CLIENT_MAGIC);
  P("ERR.FLOODED", NGHTTP2_ERR_FLOODED);
  P("DATA_FLAG.EOF", NGHTTP2_DATA_FLAG_EOF);
  P("DATA_FLAG.NO_END_STREAM", NGHTTP2_DATA_FLAG_NO_END_STREAM);
  P("DATA_FLAG.NO_COPY", NGHTTP2_DATA_FLAG_NO_COPY);
  P("FRAME_TYPE.DATA", NGHTTP2_DATA);
  P("FRAME_TYPE.HEADERS", NGHTTP2_HEADERS);
  P("FRAME_TYPE.PRIORITY", NGHTTP2_PRIORITY);
  P("FRAME_TYPE.RST_STREAM", NGHTTP2_RST_STREAM);
  P("FRAME_TYPE.SETTINGS", NGHTTP2_SETTINGS);
  P("FRAME_TYPE.PUSH_PROMISE", NGHTTP2_PUSH_PROMISE);
  P("FRAME_TYPE.PING", NGHTTP2_PING);
  P("FRAME_TYPE.GOAWAY", NGHTTP2_GOAWAY);
  P("FRAME_TYPE.WINDOW_UPDATE", NGHTTP2_WINDOW_UPDATE);
  P("FRAME_TYPE.CONTINUATION", NGHTTP2_CONTINUATION);
  P("FRAME_FLAG.END_STREAM", NGHTTP2_FLAG_END_STREAM);
  P("FRAME_FLAG.ACK", NGHTTP2_FLAG_ACK);
  P("FRAME_FLAG.END_HEADERS", NGHTTP2_FLAG_END_HEADERS);
  P("H2_ERROR.NO_ERROR", NGHTTP2_NO_ERROR);
  P("H2_ERROR.PROTOCOL_ERROR", NGHTTP2_PROTOCOL_ERROR);
  P("H2_ERROR.INTERNAL_ERROR", NGHTTP2_INTERNAL_ERROR);
  P("H2_ERROR.FLOW_CONTROL_ERROR", NGHTTP2_FLOW_CONTROL_ERROR);
  P("H2_ERROR.REFUSED_STREAM", NGHTTP2_REFUSED_STREAM);
  P("H2_ERROR.CANCEL", NGHTTP2_CANCEL);
  P("H2_ERROR.ENHANCE_YOUR_CALM", NGHTTP2_ENHANCE_YOUR_CALM);
  P("SETTINGS_ID.ENABLE_PUSH", NGHTTP2_SETTINGS_ENABLE_PUSH);
  P("SETTINGS_ID.MAX_CONCURRENT_STREAMS", NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  P("SETTINGS_ID.INITIAL_WINDOW_SIZE", NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
  P("SETTINGS_ID.MAX_FRAME_SIZE", NGHTTP2_SETTINGS_MAX_FRAME_SIZE);
  P("SETTINGS_ID.MAX_HEADER_LIST_SIZE", NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE);
  printf("\\"version\\":\\"%s\\"}\\n", nghttp2_version(0)->version_str);
  return 0;
}
`;

/** Ours, flattened to the same names. */
function ours(): Record<string, number> {
  const out: Record<string, number> = {
    HEADERS_CAT_OFFSET,
    DATA_PROVIDER_SIZE,
    "DATA_PROVIDER.READ_CALLBACK": 8, // written by ffi/nghttp2.ts at offset 8
    SETTINGS_ENTRY_SIZE,
  };
  const groups = { FRAME_HD, NV, ERR, DATA_FLAG, FRAME_TYPE, FRAME_FLAG, H2_ERROR, SETTINGS_ID };
  for (const [g, obj] of Object.entries(groups)) {
    for (const [k, v] of Object.entries(obj)) out[`${g}.${k}`] = v;
  }
  return out;
}

Deno.test(gated(["gcc", HEADER, permission("run")], {
  name: "nghttp2 ABI: every offset, size and constant matches nghttp2.h",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "basil-abi-" });
    try {
      Deno.writeTextFileSync(`${dir}/abi.c`, PROGRAM);
      const cc = await new Deno.Command("gcc", {
        args: [`${dir}/abi.c`, "-o", `${dir}/abi`, "-lnghttp2"],
      }).output();
      assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
      const run = await new Deno.Command(`${dir}/abi`).output();
      const theirs = JSON.parse(new TextDecoder().decode(run.stdout)) as Record<string, unknown>;
      assert.match(String(theirs.version), /^1\.\d+\.\d+/);
      delete theirs.version;
      assert.deepEqual(ours(), theirs);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
}));
