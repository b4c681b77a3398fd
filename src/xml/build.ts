/** The only place that escapes XML. Serialises XmlElement trees with a fixed prefix table. */
import { PREFIXES, splitClark } from "./names.ts";
import { ownedUtf8 } from "./bytes.ts";
import type { XmlElement, XmlNode } from "./tree.ts";

const TEXT_SPECIAL = /[&<>\r]/;
const ATTR_SPECIAL = /[&<>"\r\n\t]/;

export function escapeText(s: string): string {
  if (!TEXT_SPECIAL.test(s)) return s;
  // Native single-character passes beat one regex with a callback on large calendar-data bodies.
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll("\r", "&#13;");
}
export function escapeAttr(s: string): string {
  if (!ATTR_SPECIAL.test(s)) return s;
  return s.replace(/[&<>"\r\n\t]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#9;" })[c]!);
}

/** Serialise a whole document: namespaces used anywhere are declared once on the root. */
export function serialize(root: XmlElement): string {
  const prefixes = new Map<string, string>();
  let gen = 0;
  const prefixFor = (ns: string): string => {
    let p = prefixes.get(ns);
    if (p === undefined) {
      p = PREFIXES[ns] ?? `x${gen++}`;
      prefixes.set(ns, p);
    }
    return p;
  };
  // Qualified names are computed once per distinct Clark name (a 207 repeats a handful thousands of times).
  const qnames = new Map<string, string>();
  const qname = (name: string): string => {
    let q = qnames.get(name);
    if (q === undefined) {
      q = computeQname(name);
      qnames.set(name, q);
    }
    return q;
  };
  const computeQname = (name: string): string => {
    if (!name.startsWith("{")) return name;
    const { ns, local } = splitClark(name as `{${string}}${string}`);
    if (ns === "") return local;
    if (ns === "http://www.w3.org/XML/1998/namespace") return `xml:${local}`;
    return `${prefixFor(ns)}:${local}`;
  };
  // One growing string: V8 ropes make += cheaper than an array of small parts here.
  let out = "";
  const write = (e: XmlElement): void => {
    const q = qname(e.name);
    out += "<" + q;
    for (const k in e.attrs) {
      const n = attrName(k, qname);
      if (n !== null) out += " " + n + '="' + escapeAttr(e.attrs[k]!) + '"';
    }
    if (e.children.length === 0) {
      out += "/>";
      return;
    }
    out += ">";
    for (const c of e.children) {
      if (typeof c === "string") out += escapeText(c);
      else write(c);
    }
    out += "</" + q + ">";
  };
  const rootQ = qname(root.name);
  write(root);
  const decls = [...prefixes].map(([ns, p]) => ` xmlns:${p}="${escapeAttr(ns)}"`).join("");
  // Namespace declarations go on the root, after its name, once every prefix in use is known.
  return `<?xml version="1.0" encoding="utf-8"?>\n<${rootQ}${decls}${out.slice(rootQ.length + 1)}`;
}

const XMLNS_PREFIX = "{http://www.w3.org/2000/xmlns/}";
const RESERVED_PREFIXES = new Set(Object.values(PREFIXES));

/**
 * An attribute's qualified name. Kept namespace declarations (tree.ts withScope) are written as
 * xmlns:prefix, except prefixes this serialiser uses itself (D, C, CS, A, G, x<n>), which must keep
 * their meaning inside the element.
 */
function attrName(k: string, qname: (n: string) => string): string | null {
  if (!k.startsWith(XMLNS_PREFIX)) return qname(k);
  const prefix = k.slice(XMLNS_PREFIX.length);
  return RESERVED_PREFIXES.has(prefix) || /^x\d+$/.test(prefix) ? null : `xmlns:${prefix}`;
}

export function textOf(nodes: readonly XmlNode[]): string {
  return nodes.map((n) => (typeof n === "string" ? n : textOf(n.children))).join("");
}

/** The namespaces a streamed document declares on its root; anything else is declared where used. */
export const ROOT_NAMESPACES: ReadonlyMap<string, string> = new Map(Object.entries(PREFIXES));

/** Open and close tags of an element without attributes in a ROOT_NAMESPACES document; null for other namespaces. */
export function tagPair(name: string): [string, string] | null {
  if (!name.startsWith("{")) return null;
  const { ns, local } = splitClark(name as `{${string}}${string}`);
  const p = ROOT_NAMESPACES.get(ns);
  return p === undefined ? null : [`<${p}:${local}>`, `</${p}:${local}>`];
}

/** Text escaped and UTF-8 encoded, as byte-writing serialisers copy it (XmlElement.bytes). */
export function escapedBytes(s: string): Buffer {
  return ownedUtf8(escapeText(s));
}

const AMP = 0x26;
/** escapeText's entities by their first byte after "&": the byte each stands for and its length. */
const ENTITY = new Map<number, readonly [byte: number, length: number]>([
  [0x23, [0x0d, 5]], // &#13;
  [0x61, [0x26, 5]], // &amp;
  [0x6c, [0x3c, 4]], // &lt;
  [0x67, [0x3e, 4]], // &gt;
]);

/**
 * The UTF-8 text escapedBytes() was made from, undoing only the four entities escapeText writes
 * (the inverse for its output, not an XML entity decoder).
 */
export function unescapedBytes(escaped: Buffer): Buffer {
  let at = escaped.indexOf(AMP);
  if (at < 0) return escaped;
  const out = Buffer.allocUnsafe(escaped.length);
  let from = 0;
  let len = 0;
  while (at >= 0) {
    const e = ENTITY.get(escaped[at + 1]!);
    if (!e) throw new Error(`not escapeText output: "&" at byte ${at} starts no entity it writes`);
    len += escaped.copy(out, len, from, at);
    out[len++] = e[0];
    from = at + e[1];
    at = escaped.indexOf(AMP, from);
  }
  len += escaped.copy(out, len, from);
  return out.subarray(0, len);
}

/**
 * Serialise one element of a document whose root declared ROOT_NAMESPACES. Other namespaces are
 * declared on the outermost element of the fragment that needs them, so fragments can be written
 * one at a time (streamed 207 responses).
 */
export function serializeFragment(e: XmlElement): string {
  const local = new Map<string, string>();
  let gen = 0;
  const qname = (name: string): string => {
    if (!name.startsWith("{")) return name;
    const { ns, local: l } = splitClark(name as `{${string}}${string}`);
    if (ns === "") return l;
    if (ns === "http://www.w3.org/XML/1998/namespace") return `xml:${l}`;
    const p = ROOT_NAMESPACES.get(ns) ?? local.get(ns);
    if (p !== undefined) return `${p}:${l}`;
    const fresh = `x${gen++}`;
    local.set(ns, fresh);
    return `${fresh}:${l}`;
  };
  const write = (el: XmlElement): string => {
    const before = local.size;
    const q = qname(el.name);
    let attrs = "";
    for (const k in el.attrs) {
      const n = attrName(k, qname);
      if (n !== null) attrs += " " + n + '="' + escapeAttr(el.attrs[k]!) + '"';
    }
    let inner = "";
    for (const c of el.children) inner += typeof c === "string" ? escapeText(c) : write(c);
    // Declare, on this element, the namespaces first needed inside it (xmlns scoping covers children).
    let decls = "";
    if (local.size > before) {
      const added = [...local].slice(before);
      for (const [ns, p] of added) {
        decls += ` xmlns:${p}="${escapeAttr(ns)}"`;
        local.delete(ns);
      }
    }
    return inner === "" ? `<${q}${decls}${attrs}/>` : `<${q}${decls}${attrs}>${inner}</${q}>`;
  };
  return write(e);
}
