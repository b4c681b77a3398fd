/** Reading the upstream's multistatus answers into plain records (no DAV server types here). */
import { parseXml, XmlParseError } from "../../xml/parse.ts";
import { child, elements, text, type XmlElement } from "../../xml/tree.ts";
import { Transient } from "../adapter.ts";

export interface MsResponse {
  href: string;
  /** Response-level status (e.g. 404 in sync-collection), or null when the response has propstats. */
  status: number | null;
  /** Props found with 2xx, by Clark name. */
  props: Map<string, XmlElement>;
}

export function statusCode(line: string | undefined): number | null {
  const m = /\s(\d{3})(\s|$)/.exec(line ?? "");
  return m ? Number(m[1]) : null;
}

/** Parses a multistatus; an unparsable or truncated body is a transient failure (retry). */
export function parseMultistatus(body: string, where: string): { responses: MsResponse[]; syncToken: string | null } {
  let root: XmlElement;
  try {
    root = parseXml(body, { maxDepth: 64, maxElements: 5_000_000 });
  } catch (e) {
    if (e instanceof XmlParseError) throw new Transient(`${where}: unreadable multistatus (${e.message})`);
    throw e;
  }
  if (root.name !== "{DAV:}multistatus") throw new Transient(`${where}: expected a DAV:multistatus, got ${root.name}`);
  const responses: MsResponse[] = [];
  for (const r of elements(root, "{DAV:}response")) {
    const hrefs = elements(r, "{DAV:}href");
    const st = child(r, "{DAV:}status");
    const props = new Map<string, XmlElement>();
    for (const ps of elements(r, "{DAV:}propstat")) {
      const code = statusCode(text(child(ps, "{DAV:}status") ?? { name: "{DAV:}status", attrs: {}, children: [] }));
      if (code === null || code < 200 || code > 299) continue;
      const prop = child(ps, "{DAV:}prop");
      if (prop) for (const p of elements(prop)) props.set(p.name, p);
    }
    for (const h of hrefs) responses.push({ href: text(h).trim(), status: st ? statusCode(text(st)) : null, props });
  }
  const tok = child(root, "{DAV:}sync-token");
  return { responses, syncToken: tok ? text(tok).trim() : null };
}

export const propText = (r: MsResponse, name: string): string | null => {
  const p = r.props.get(name);
  return p ? text(p) : null;
};
