/**
 * How the double answers, as OpenBao's HTTP layer does: a logical error is
 * 400 `{"errors":["..."]}`, an internal error 500 with the multierror text,
 * a read of nothing 404 `{"errors":[]}`, an empty success 204, an
 * unsupported operation 405, a bad or missing token 403 "permission
 * denied", a sealed server 503 "Vault is sealed". Successful answers carry
 * the full envelope (`request_id`, `lease_id`, `renewable`,
 * `lease_duration`, `data`, `wrap_info`, `warnings`, `auth`, `mount_type`).
 * @module
 */

/** A handler's answer. */
export type Reply =
  | {
    kind: "data";
    data: Record<string, unknown>;
    warnings?: string[];
    auth?: Record<string, unknown>;
    lease?: { id: string; duration: number; renewable: boolean };
  }
  | { kind: "auth"; auth: Record<string, unknown>; warnings?: string[] }
  | { kind: "empty" }
  | { kind: "notFound"; data?: Record<string, unknown> }
  | { kind: "error"; status: number; errors: string[] }
  | { kind: "raw"; status: number; contentType: string; body: string };

/** 400 with one message (logical.ErrorResponse + ErrInvalidRequest). */
export function bad(message: string): Reply {
  return { kind: "error", status: 400, errors: [message] };
}

/** 500, the way a handler's Go error is rendered. */
export function internal(message: string): Reply {
  return { kind: "error", status: 500, errors: [`1 error occurred:\n\t* ${message}\n\n`] };
}

/** 403. */
export function denied(): Reply {
  return { kind: "error", status: 403, errors: ["permission denied"] };
}

/** 405. */
export function unsupported(): Reply {
  return {
    kind: "error",
    status: 405,
    errors: ["1 error occurred:\n\t* unsupported operation\n\n"],
  };
}

/** 404 for an unmounted path. */
export function noRoute(path: string): Reply {
  return {
    kind: "error",
    status: 404,
    errors: [`no handler for route "${path}". route entry not found.`],
  };
}

/** A success with `data`. */
export function ok(data: Record<string, unknown>, warnings?: string[]): Reply {
  return { kind: "data", data, ...(warnings && warnings.length > 0 ? { warnings } : {}) };
}

/** Renders a reply as an HTTP response. */
export function render(r: Reply, mountType: string): Response {
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  switch (r.kind) {
    case "empty":
      return new Response(null, { status: 204 });
    case "error":
      return json(r.status, { errors: r.errors });
    case "raw":
      return new Response(r.body, { status: r.status, headers: { "Content-Type": r.contentType } });
    case "notFound":
      return r.data === undefined
        ? json(404, { errors: [] })
        : json(404, envelope(r.data, undefined, undefined, mountType));
    case "data":
      return json(200, envelope(r.data, r.warnings, r.auth, mountType, r.lease));
    case "auth":
      return json(200, envelope(null, r.warnings, r.auth, mountType));
  }
}

function envelope(
  data: Record<string, unknown> | null,
  warnings: string[] | undefined,
  auth: Record<string, unknown> | undefined,
  mountType: string,
  lease?: { id: string; duration: number; renewable: boolean },
): Record<string, unknown> {
  return {
    request_id: crypto.randomUUID(),
    lease_id: lease?.id ?? "",
    renewable: lease?.renewable ?? false,
    lease_duration: lease?.duration ?? 0,
    data,
    wrap_info: null,
    warnings: warnings ?? null,
    auth: auth ?? null,
    mount_type: mountType,
  };
}

/** Request fields, coerced the way OpenBao's framework coerces them. */
export class Fields {
  constructor(readonly raw: Record<string, unknown>) {}

  has(k: string): boolean {
    return this.raw[k] !== undefined && this.raw[k] !== null;
  }

  str(k: string, dflt = ""): string {
    const v = this.raw[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    throw new FieldError(k, "string");
  }

  int(k: string, dflt = 0): number {
    const v = this.raw[k];
    if (v === undefined || v === null || v === "") return dflt;
    const n = typeof v === "string" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) throw new FieldError(k, "int");
    return n;
  }

  bool(k: string, dflt = false): boolean {
    const v = this.raw[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    throw new FieldError(k, "bool");
  }

  /** Seconds from an int or a Go duration string ("30s", "5m", "1h"). */
  secs(k: string, dflt = 0): number {
    const v = this.raw[k];
    if (v === undefined || v === null || v === "") return dflt;
    if (typeof v === "number") return v;
    if (typeof v === "string") {
      if (/^\d+$/.test(v)) return Number(v);
      const m = /^(\d+)(s|m|h)$/.exec(v);
      if (m) return Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as const)[m[2] as "s" | "m" | "h"];
    }
    throw new FieldError(k, "duration");
  }

  /** A list from an array or a comma-separated string. */
  list(k: string): string[] {
    const v = this.raw[k];
    if (v === undefined || v === null || v === "") return [];
    if (Array.isArray(v)) return v.map(String);
    if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter((s) => s !== "");
    throw new FieldError(k, "list");
  }
}

/** A field of the wrong type (rendered as 400, as the framework does). */
export class FieldError extends Error {
  constructor(readonly field: string, readonly want: string) {
    super(`error converting input for field "${field}": cannot parse as ${want}`);
  }
}
