/** The only place that escapes XML. Serialises XmlElement trees with a fixed prefix table. */
import { PREFIXES, splitClark } from "./names.ts";
import type { XmlElement, XmlNode } from "./tree.ts";

export function escapeText(s: string): string {
  return s.replace(/[&<>\r]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&#13;"));
}
export function escapeAttr(s: string): string {
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
  const qname = (name: string): string => {
    if (!name.startsWith("{")) return name;
    const { ns, local } = splitClark(name as `{${string}}${string}`);
    if (ns === "") return local;
    if (ns === "http://www.w3.org/XML/1998/namespace") return `xml:${local}`;
    return `${prefixFor(ns)}:${local}`;
  };
  const parts: string[] = [];
  const write = (e: XmlElement): void => {
    parts.push("<", qname(e.name));
    for (const [k, v] of Object.entries(e.attrs)) parts.push(" ", qname(k), '="', escapeAttr(v), '"');
    if (e.children.length === 0) {
      parts.push("/>");
      return;
    }
    parts.push(">");
    for (const c of e.children) {
      if (typeof c === "string") parts.push(escapeText(c));
      else write(c);
    }
    parts.push("</", qname(e.name), ">");
  };
  write(root);
  const decls = [...prefixes].map(([ns, p]) => ` xmlns:${p}="${escapeAttr(ns)}"`).join("");
  // Unprefixed elements in the empty namespace need no declaration; insert ours after the root tag name.
  const first = parts.slice(0, 2).join("");
  return `<?xml version="1.0" encoding="utf-8"?>\n${first}${decls}${parts.slice(2).join("")}`;
}

export function textOf(nodes: readonly XmlNode[]): string {
  return nodes.map((n) => (typeof n === "string" ? n : textOf(n.children))).join("");
}
