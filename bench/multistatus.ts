/**
 * Reading a 207 multistatus for the benchmark's checks, two ways:
 *
 * - parseMultistatusFull: the project's own XML parser (fast-xml-parser + xmlns scoping into Clark
 *   names). Thorough, but ~0.3 s of CPU for a 1,000-member answer and ~1 s for 10,000: checking one
 *   answer in twenty under load was enough to make the load client, not the server, the bound.
 * - scanMultistatus: a namespace-aware scan with regular expressions (~5-10 ms for 10,000 members),
 *   used under load. It reads the documents every server here sends (each prefix bound to one
 *   namespace in the whole document) and returns null for anything else, where the caller falls
 *   back to the full parser. The warm-up requests read every answer both ways and fail the operation
 *   if the two disagree, so the scan is checked against the parser on every run.
 */
import { parseXml, decodeEntities } from "../src/xml/parse.ts";
import { child, elements, text } from "../src/xml/tree.ts";
import type { Clark } from "../src/xml/names.ts";

export interface MsProp {
  status: number;
  text: string;
}
export interface MsResponse {
  href: string;
  status: number | null;
  props: Map<Clark, MsProp>;
}
export interface Multistatus {
  responses: MsResponse[];
  syncToken: string | null;
}

const DAV = "DAV:";
const D = (l: string): Clark => `{DAV:}${l}`;
const BIG = { maxDepth: 64, maxElements: 50_000_000 };
const statusCode = (s: string): number => Number(/HTTP\/\S+\s+(\d{3})/.exec(s)?.[1] ?? NaN);

export function parseMultistatusFull(body: string): Multistatus {
  const root = parseXml(body, BIG);
  if (root.name !== D("multistatus")) throw new Error(`not a multistatus: ${root.name}`);
  const responses: MsResponse[] = [];
  for (const r of elements(root, D("response"))) {
    const hrefEl = child(r, D("href"));
    const st = child(r, D("status"));
    const props = new Map<Clark, MsProp>();
    for (const ps of elements(r, D("propstat"))) {
      const s = child(ps, D("status"));
      const code = s ? statusCode(text(s)) : NaN;
      const prop = child(ps, D("prop"));
      if (prop) for (const p of elements(prop)) props.set(p.name, { status: code, text: text(p) });
    }
    responses.push({ href: hrefEl ? text(hrefEl).trim() : "", status: st ? statusCode(text(st)) : null, props });
  }
  const tok = child(root, D("sync-token"));
  return { responses, syncToken: tok ? text(tok).trim() : null };
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
/** XML 2.11: a literal CR LF or CR in the document reads as LF (a &#13; reference stays a CR). */
const lf = (s: string): string => (s.includes("\r") ? s.replace(/\r\n?/g, "\n") : s);
/** Text content of an element's inside: line ends normalised, CDATA sections kept, entities decoded. */
function innerText(inner: string): string {
  if (!inner.includes("<")) return decodeEntities(lf(inner));
  let out = "";
  const re = /<!\[CDATA\[([\s\S]*?)\]\]>|<[^>]*>|([^<]+)/g;
  for (const m of inner.matchAll(re)) out += m[1] !== undefined ? lf(m[1]) : m[2] !== undefined ? decodeEntities(lf(m[2])) : "";
  return out;
}

/** The fast reader (see the file comment); null when the document is outside what it reads. */
export function scanMultistatus(body: string): Multistatus | null {
  // Prefix → namespace for the whole document; a prefix bound twice (differently) → null.
  const ns = new Map<string, string>();
  for (const m of body.matchAll(/\sxmlns(?::([\w.-]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    const prefix = m[1] ?? "";
    const uri = m[2] ?? m[3] ?? "";
    if (ns.has(prefix) && ns.get(prefix) !== uri) return null;
    ns.set(prefix, uri);
  }
  if (body.includes("<!--") || /<!DOCTYPE/i.test(body)) return null;
  const davPrefixes = [...ns].filter(([, u]) => u === DAV).map(([p]) => p);
  if (davPrefixes.length !== 1) return null;
  const p = davPrefixes[0]!;
  const q = p === "" ? "" : esc(p) + ":";
  const clark = (qname: string): Clark | null => {
    const i = qname.indexOf(":");
    const uri = ns.get(i < 0 ? "" : qname.slice(0, i));
    return uri === undefined ? null : `{${uri}}${i < 0 ? qname : qname.slice(i + 1)}`;
  };
  const tag = (local: string, flags = ""): RegExp => new RegExp(`<${q}${local}(?:\\s[^>]*)?>([\\s\\S]*?)</${q}${local}\\s*>`, flags);
  const hrefRe = tag("href");
  const statusRe = tag("status");
  const propRe = tag("prop");
  const syncTokenRe = tag("sync-token");
  const first = (inner: string, re: RegExp): string | null => re.exec(inner)?.[1] ?? null;
  if (!new RegExp(`<${q}multistatus[\\s>]`).test(body)) return null;
  const responses: MsResponse[] = [];
  const responseRe = tag("response", "g");
  const propstatRe = tag("propstat", "g");
  const childRe = /<([\w.-]+(?::[\w.-]+)?)((?:\s[^>]*?)?)(?:\/>|>([\s\S]*?)<\/\1\s*>)/g;
  for (let r = responseRe.exec(body); r !== null; r = responseRe.exec(body)) {
    const inner = r[1]!;
    const href = first(inner, hrefRe);
    const props = new Map<Clark, MsProp>();
    let propstats = 0;
    propstatRe.lastIndex = 0;
    for (let ps = propstatRe.exec(inner); ps !== null; ps = propstatRe.exec(inner)) {
      propstats++;
      const psInner = ps[1]!;
      const st = first(psInner, statusRe);
      const code = st === null ? NaN : statusCode(st);
      const prop = first(psInner, propRe);
      if (prop !== null) {
        childRe.lastIndex = 0;
        for (let e = childRe.exec(prop); e !== null; e = childRe.exec(prop)) {
          const name = clark(e[1]!);
          if (name === null) return null;
          props.set(name, { status: code, text: e[3] === undefined ? "" : innerText(e[3]) });
        }
      }
    }
    // A response has either propstats or a status of its own (RFC 4918 14.24).
    const st = propstats === 0 ? first(inner, statusRe) : null;
    responses.push({ href: href === null ? "" : innerText(href).trim(), status: st === null ? null : statusCode(st), props });
  }
  // The sync-token is a child of multistatus: after the responses (RFC 6578 6.2) or, from Radicale, before them.
  const qp = p === "" ? "" : p + ":";
  const firstOpen = body.search(new RegExp(`<${q}response[\\s>]`));
  const lastClose = body.lastIndexOf(`</${qp}response`);
  const tok = firstOpen < 0 ? first(body, syncTokenRe) : (first(body.slice(0, firstOpen), syncTokenRe) ?? first(body.slice(lastClose), syncTokenRe));
  return { responses, syncToken: tok === null ? null : innerText(tok).trim() };
}

/** Under load: the scan, or the full parser when the scan does not read the document. */
export function readMultistatus(body: string): Multistatus {
  return scanMultistatus(body) ?? parseMultistatusFull(body);
}

/** Null when the scan and the full parser read `body` the same way (or the scan declines it), else the first difference. */
export function scanDisagrees(body: string): string | null {
  const fast = scanMultistatus(body);
  if (fast === null) return null;
  const full = parseMultistatusFull(body);
  if (fast.syncToken !== full.syncToken) return `sync-token: scan ${fast.syncToken}, parser ${full.syncToken}`;
  if (fast.responses.length !== full.responses.length) return `responses: scan ${fast.responses.length}, parser ${full.responses.length}`;
  for (let i = 0; i < full.responses.length; i++) {
    const a = fast.responses[i]!;
    const b = full.responses[i]!;
    if (a.href !== b.href || a.status !== b.status && !(Number.isNaN(a.status) && Number.isNaN(b.status))) return `response ${i}: scan ${a.href} ${a.status}, parser ${b.href} ${b.status}`;
    if (a.props.size !== b.props.size) return `response ${i} (${b.href}): scan ${a.props.size} props, parser ${b.props.size}`;
    for (const [k, v] of b.props) {
      const f = a.props.get(k);
      if (!f || f.text !== v.text || (f.status !== v.status && !(Number.isNaN(f.status) && Number.isNaN(v.status)))) return `response ${i} (${b.href}) ${k}: scan ${JSON.stringify(f)}, parser ${JSON.stringify(v)}`;
    }
  }
  return null;
}
