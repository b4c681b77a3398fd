/**
 * Safe XML parsing: DOCTYPE (and so every entity declaration) is refused, well-formedness is checked
 * first, text is never trimmed or coerced, and xmlns scoping is resolved here into Clark names.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import type { Clark } from "./names.ts";
import type { XmlElement, XmlNode } from "./tree.ts";

export class XmlParseError extends Error {
  constructor(message: string, readonly line?: number) {
    super(message);
    this.name = "XmlParseError";
  }
}

export interface XmlLimits {
  maxDepth: number;
  maxElements: number;
}
const DEFAULT_LIMITS: XmlLimits = { maxDepth: 64, maxElements: 200_000 };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: "#comment",
  cdataPropName: "#cdata",
  // Entities are decoded here, in one pass, so "&amp;#13;" stays the text "&#13;".
  processEntities: false,
  htmlEntities: false,
});

type Raw = Record<string, unknown>;

const PREDEFINED: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
/** Decode the five predefined entities and numeric character references; anything else is an error. */
export function decodeEntities(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new XmlParseError("bare '&' in XML text; escape it as &amp;");
    if (ref.startsWith("#")) {
      const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code > 0x10ffff || code === 0) throw new XmlParseError(`invalid character reference ${m}`);
      return String.fromCodePoint(code);
    }
    const v = PREDEFINED[ref];
    if (v === undefined) throw new XmlParseError(`undefined entity ${m}; only XML's predefined entities are accepted`);
    return v;
  });
}

export function parseXml(body: string, limits: XmlLimits = DEFAULT_LIMITS): XmlElement {
  if (/<!DOCTYPE/i.test(body) || /<!ENTITY/i.test(body)) {
    throw new XmlParseError("DOCTYPE and entity declarations are not accepted in request bodies");
  }
  // The validator and parser throw plain Errors of their own on some inputs (e.g. "Maximum nested
  // tags exceeded") and may quote the whole open-tag stack in a message: both become a short XmlParseError.
  const short = (m: string): string => (m.length > 300 ? `${m.slice(0, 300)}…` : m);
  let raw: Raw[];
  try {
    const valid = XMLValidator.validate(body, { allowBooleanAttributes: false });
    if (valid !== true) {
      throw new XmlParseError(`malformed XML: ${short(valid.err.msg)} (line ${valid.err.line}, column ${valid.err.col})`, valid.err.line);
    }
    raw = parser.parse(body) as Raw[];
  } catch (e) {
    if (e instanceof XmlParseError) throw e;
    throw new XmlParseError(`malformed XML: ${short(e instanceof Error ? e.message : String(e))}`);
  }
  let count = 0;
  const convert = (node: Raw, scope: Map<string, string>, lang: string | null, depth: number): XmlElement | null => {
    if (depth > limits.maxDepth) throw new XmlParseError(`XML nested deeper than ${limits.maxDepth} levels`);
    if (++count > limits.maxElements) throw new XmlParseError(`XML has more than ${limits.maxElements} elements`);
    const tag = Object.keys(node).find((k) => k !== ":@");
    if (tag === undefined || tag === "#comment" || tag.startsWith("?")) return null;
    const rawAttrs = (node[":@"] ?? {}) as Record<string, string>;
    let local = scope;
    for (const [k, v] of Object.entries(rawAttrs)) {
      if (k === "xmlns" || k.startsWith("xmlns:")) {
        if (local === scope) local = new Map(scope);
        local.set(k === "xmlns" ? "" : k.slice(6), String(v));
      }
    }
    const resolve = (qname: string, isAttr: boolean): string => {
      const i = qname.indexOf(":");
      const prefix = i < 0 ? "" : qname.slice(0, i);
      const name = i < 0 ? qname : qname.slice(i + 1);
      if (isAttr && prefix === "") return name;
      if (prefix === "xml") return `{http://www.w3.org/XML/1998/namespace}${name}`;
      const ns = local.get(prefix);
      if (ns === undefined) {
        if (prefix === "") return `{}${name}`;
        throw new XmlParseError(`undeclared namespace prefix "${prefix}" on <${qname}>`);
      }
      return `{${ns}}${name}`;
    };
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(rawAttrs)) {
      if (k === "xmlns" || k.startsWith("xmlns:")) continue;
      attrs[resolve(k, true)] = decodeEntities(String(v));
    }
    const ownLang = attrs["{http://www.w3.org/XML/1998/namespace}lang"] ?? lang;
    const kids: XmlNode[] = [];
    const body = node[tag];
    if (Array.isArray(body)) {
      for (const c of body as Raw[]) {
        if ("#text" in c) kids.push(decodeEntities(String(c["#text"])));
        else if ("#cdata" in c) {
          const parts = c["#cdata"] as Raw[];
          for (const p of parts) if ("#text" in p) kids.push(String(p["#text"]));
        } else {
          const e = convert(c, local, ownLang, depth + 1);
          if (e) kids.push(e);
        }
      }
    }
    const element: XmlElement = { name: resolve(tag, false) as Clark, attrs, children: kids };
    // Not enumerable: parsed trees still compare equal to built ones, and never serialise it.
    Object.defineProperty(element, "scope", { value: { ns: local, lang }, enumerable: false });
    return element;
  };
  const roots = raw.map((r) => convert(r, new Map(), null, 0)).filter((e): e is XmlElement => e !== null);
  if (roots.length !== 1) throw new XmlParseError(`expected one root element, found ${roots.length}`);
  return roots[0]!;
}
