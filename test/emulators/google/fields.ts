/**
 * Partial responses: the standard `fields` query parameter of Google APIs
 * (`items(id,status,start),nextPageToken`, `a/b`, `*`).
 */
import { E } from "./errors.ts";
import { isPlainObject } from "./util.ts";

type Selection = Map<string, Selection | true>;

function parse(spec: string): Selection {
  let i = 0;
  const list = (): Selection => {
    const sel: Selection = new Map();
    for (;;) {
      const m = /^[A-Za-z0-9_*@.-]+(?:\/[A-Za-z0-9_*@.-]+)*/.exec(spec.slice(i));
      if (!m) throw E.invalid("Invalid field selection", "fields");
      i += m[0].length;
      let sub: Selection | true = true;
      if (spec[i] === "(") {
        i++;
        sub = list();
        if (spec[i] !== ")") throw E.invalid("Invalid field selection", "fields");
        i++;
      }
      const names = m[0].split("/");
      let node = sel;
      for (const [k, name] of names.entries()) {
        if (k === names.length - 1) {
          const prev = node.get(name);
          node.set(name, prev instanceof Map && sub instanceof Map ? new Map([...prev, ...sub]) : prev === true ? true : sub);
        } else {
          const next = node.get(name);
          if (next === true) break;
          const child: Selection = next ?? new Map();
          node.set(name, child);
          node = child;
        }
      }
      if (spec[i] !== ",") return sel;
      i++;
    }
  };
  const sel = list();
  if (i !== spec.length) throw E.invalid("Invalid field selection", "fields");
  return sel;
}

function apply(value: unknown, sel: Selection): unknown {
  if (Array.isArray(value)) return value.map((v) => apply(v, sel));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const s = sel.get(k) ?? sel.get("*");
    if (s === undefined) continue;
    out[k] = s === true ? v : apply(v, s);
  }
  return out;
}

/** Applies a `fields` selection to a response body. */
export function selectFields(body: unknown, spec: string): unknown {
  return apply(body, parse(spec.replace(/\s+/g, "")));
}
