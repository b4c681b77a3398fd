import type { Clark } from "./names.ts";

/** A namespace-resolved XML element. Text is kept exactly as sent (no trimming, no coercion). */
export interface XmlElement {
  readonly name: Clark;
  /** Attributes by Clark name for prefixed ones, by local name for unprefixed ones. */
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlNode[];
  /**
   * Set by the parser: the namespace prefixes in scope (prefix → URI, "" for the default) and the
   * inherited xml:lang. Dead properties keep them (RFC 4918 4.3); see withScope. Not serialised.
   */
  readonly scope?: { readonly ns: ReadonlyMap<string, string>; readonly lang: string | null };
  /**
   * Set on served calendar-data: the children (one text) already escaped and UTF-8 encoded, once per
   * stored object. Serialisers that write bytes copy it; the others escape the children as usual.
   */
  readonly bytes?: Buffer;
}
export type XmlNode = XmlElement | string;

/** A property value whose escaped UTF-8 form is kept ready (see XmlElement.bytes); its text is read when asked for. */
export class SerialisedText {
  constructor(
    private readonly source: () => string,
    readonly bytes: Buffer,
  ) {}
  get text(): string {
    return this.source();
  }
}

export function isElement(n: XmlNode | undefined): n is XmlElement {
  return typeof n === "object" && n !== null;
}
export function elements(el: XmlElement, name?: Clark): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of el.children) if (isElement(c) && (name === undefined || c.name === name)) out.push(c);
  return out;
}
export function child(el: XmlElement, name: Clark): XmlElement | undefined {
  for (const c of el.children) if (isElement(c) && c.name === name) return c;
  return undefined;
}
/** Concatenated text of the element's direct text children. */
export function text(el: XmlElement): string {
  let s = "";
  for (const c of el.children) if (typeof c === "string") s += c;
  return s;
}
/** Shorthand constructor for elements when building responses. */
export function el(name: Clark, attrsOrChild?: Record<string, string> | XmlNode | XmlNode[] | null, ...rest: (XmlNode | XmlNode[] | null | undefined)[]): XmlElement {
  let attrs: Record<string, string> = {};
  const kids: XmlNode[] = [];
  const add = (x: XmlNode | XmlNode[] | null | undefined): void => {
    if (x === null || x === undefined) return;
    if (Array.isArray(x)) for (const y of x) kids.push(y);
    else kids.push(x);
  };
  if (attrsOrChild !== undefined && attrsOrChild !== null && typeof attrsOrChild === "object" && !Array.isArray(attrsOrChild) && !("name" in attrsOrChild && "children" in attrsOrChild)) {
    attrs = attrsOrChild as Record<string, string>;
  } else add(attrsOrChild as XmlNode | XmlNode[] | null | undefined);
  for (const r of rest) add(r);
  return { name, attrs, children: kids };
}

export const XMLNS_NS = "http://www.w3.org/2000/xmlns/";
export const XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang";

/**
 * The element as a self-contained value (RFC 4918 4.3: a dead property keeps the namespace
 * declarations in scope, which QNames in its text may use, and its xml:lang, inherited or not):
 * prefixed declarations become {http://www.w3.org/2000/xmlns/}prefix attributes, which the
 * serialisers write back as xmlns:prefix; an inherited xml:lang becomes an xml:lang attribute.
 */
export function withScope(e: XmlElement): XmlElement {
  const attrs: Record<string, string> = {};
  if (e.scope) {
    for (const [prefix, uri] of e.scope.ns) if (prefix !== "" && uri !== "") attrs[`{${XMLNS_NS}}${prefix}`] = uri;
    if (e.scope.lang !== null && e.attrs[XML_LANG] === undefined) attrs[XML_LANG] = e.scope.lang;
  }
  return strip({ ...e, attrs: { ...attrs, ...e.attrs } });
}

function strip(e: XmlElement): XmlElement {
  return { name: e.name, attrs: e.attrs, children: e.children.map((c) => (typeof c === "string" ? c : strip(c))) };
}
