/**
 * The `op` item JSON Basil reads and writes (the `Item`/`Field` shapes of
 * npm `@1password/op-js`), item naming and the value-field lookup of
 * contract §10:
 *
 * - the item for catalog `path` is the Secure Note titled
 *   `basil/{project}/{profile}/{path}`;
 * - its value is the field labelled `value`, else the first concealed
 *   field, else the field with id `password`;
 * - a new item has the fields `project`, `key` (the path) and `value`
 *   (concealed) and the tags `automated` and the project;
 * - values are UTF-8 text; the item's `version` is the value's version.
 * @module
 */

import { z } from "zod";

const FieldShape = z.object({
  id: z.string(),
  type: z.string(),
  label: z.string().optional(),
  value: z.string().optional(),
  purpose: z.string().optional(),
}).loose();

const ItemShape = z.object({
  id: z.string(),
  title: z.string(),
  version: z.number().int().min(0).optional(),
  category: z.string(),
  fields: z.array(FieldShape).optional(),
}).loose();

/** One field of an item (only what Basil reads; the rest is kept as is). */
export type OpField = z.infer<typeof FieldShape>;
/** An item as `op item get|create|edit --format json` prints it. */
export type OpItem = z.infer<typeof ItemShape>;

/** Parses op's item JSON; undefined when it is not an item. */
export function parseItem(json: Uint8Array): OpItem | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch {
    return undefined;
  }
  const r = ItemShape.safeParse(v);
  return r.success ? r.data : undefined;
}

/** The item title of a catalog path. */
export function itemTitle(project: string, profile: string, path: string): string {
  return `basil/${project}/${profile}/${path}`;
}

/** The field holding the value (§10 order), or undefined. */
export function valueField(item: OpItem): OpField | undefined {
  const fields = item.fields ?? [];
  return fields.find((f) => f.label === "value") ??
    fields.find((f) => f.type === "CONCEALED") ??
    fields.find((f) => f.id === "password");
}

/** The version op reports for an item (1 when it prints none). */
export function itemVersion(item: OpItem): number {
  return item.version ?? 1;
}

/** The stdin template of `op item create` (the fields; title, vault and tags are flags). */
export function createTemplate(project: string, path: string, value: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    fields: [
      { id: "project", type: "STRING", label: "project", value: project },
      { id: "key", type: "STRING", label: "key", value: path },
      { id: "value", type: "CONCEALED", label: "value", value },
    ],
  }));
}

/** The stdin template of `op item edit --template`: the item with its value field replaced. */
export function editTemplate(item: OpItem, value: string): Uint8Array {
  const fields = [...(item.fields ?? [])];
  const target = valueField(item);
  const i = target === undefined ? -1 : fields.indexOf(target);
  if (i >= 0) fields[i] = { ...fields[i]!, value };
  else fields.push({ id: "value", type: "CONCEALED", label: "value", value });
  return new TextEncoder().encode(JSON.stringify({ ...item, fields }));
}
