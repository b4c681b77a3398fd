/** Multistatus responses: propstat grouping by status, and return=minimal (omit 404 propstats). */
import { dav } from "./names.ts";
import { el, type XmlElement } from "./tree.ts";
import { Readable } from "node:stream";
import { serialize, serializeFragment, ROOT_NAMESPACES, escapeAttr, escapeText } from "./build.ts";

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK", 201: "Created", 204: "No Content", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
  412: "Precondition Failed", 424: "Failed Dependency", 500: "Internal Server Error", 507: "Insufficient Storage",
};
export const statusLine = (code: number): string => `HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? ""}`.trimEnd();

export interface PropResult {
  readonly status: number;
  readonly prop: XmlElement; // the property element, with value children for 200
  readonly error?: XmlElement; // DAV:error content for this propstat
}

export type ResponseEntry =
  | { readonly href: string; readonly props: readonly PropResult[] }
  | { readonly href: string; readonly status: number };

export function responseElement(entry: ResponseEntry, minimal: boolean): XmlElement {
  const href = el(dav("href"), entry.href);
  if ("status" in entry) return el(dav("response"), href, el(dav("status"), statusLine(entry.status)));
  const byStatus = new Map<number, PropResult[]>();
  for (const p of entry.props) {
    if (minimal && p.status === 404) continue;
    const list = byStatus.get(p.status) ?? [];
    list.push(p);
    byStatus.set(p.status, list);
  }
  const propstats = [...byStatus].map(([status, list]) => {
    const errors = list.filter((p) => p.error).map((p) => p.error!);
    return el(dav("propstat"), el(dav("prop"), list.map((p) => p.prop)), el(dav("status"), statusLine(status)), errors.length ? el(dav("error"), errors) : null);
  });
  // RFC 4918 requires at least one propstat or status; with everything omitted, answer an empty 200 prop.
  if (propstats.length === 0) propstats.push(el(dav("propstat"), el(dav("prop")), el(dav("status"), statusLine(200))));
  return el(dav("response"), href, propstats);
}

export function multistatus(entries: readonly ResponseEntry[], minimal: boolean, extra: XmlElement[] = []): string {
  return serialize(el(dav("multistatus"), entries.map((e) => responseElement(e, minimal)), extra));
}

/**
 * A 207 written as it is produced: responses are serialised one by one and flushed in chunks, so a
 * Depth 1 PROPFIND or an initial sync of a large calendar never holds the whole document (or its
 * element tree) in memory.
 */
export function multistatusStream(entries: AsyncIterable<ResponseEntry> | Iterable<ResponseEntry>, minimal: boolean, extra: () => XmlElement[] = () => []): Readable {
  async function* chunks(): AsyncGenerator<string> {
    let decls = "";
    for (const [ns, p] of ROOT_NAMESPACES) decls += ` xmlns:${p}="${escapeAttr(ns)}"`;
    let buf = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus${decls}>`;
    for await (const e of entries) {
      buf += renderResponse(e, minimal);
      if (buf.length >= 64 * 1024) {
        yield buf;
        buf = "";
      }
    }
    for (const x of extra()) buf += serializeFragment(x);
    yield buf + "</D:multistatus>";
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** One DAV:response as text, for streamed documents (same output as responseElement, fewer objects). */
export function renderResponse(entry: ResponseEntry, minimal: boolean): string {
  const href = `<D:href>${escapeText(entry.href)}</D:href>`;
  if ("status" in entry) return `<D:response>${href}<D:status>${statusLine(entry.status)}</D:status></D:response>`;
  if (entry.props.every((p) => p.status === 200 && !p.error)) {
    let props = "";
    for (const p of entry.props) props += serializeFragment(p.prop);
    return `<D:response>${href}<D:propstat><D:prop>${props}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
  }
  return serializeFragment(responseElement(entry, minimal));
}
