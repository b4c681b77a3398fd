/** Multistatus responses: propstat grouping by status, and return=minimal (omit 404 propstats). */
import { dav } from "./names.ts";
import { el, type XmlElement } from "./tree.ts";
import { Readable } from "node:stream";
import { serialize, serializeFragment, tagPair, ROOT_NAMESPACES, escapeAttr, escapeText } from "./build.ts";
import { owned } from "./bytes.ts";

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
 * A 207 written as it is produced: responses are serialised one by one and flushed in chunks of
 * bytes, so a Depth 1 PROPFIND or an initial sync of a large calendar never holds the whole document
 * (or its element tree) in memory. Served calendar-data (XmlElement.bytes) is copied, not escaped.
 */
export function multistatusStream(entries: AsyncIterable<ResponseEntry | Buffer> | Iterable<ResponseEntry | Buffer>, minimal: boolean, extra: () => XmlElement[] = () => []): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    const out = new ByteChunks();
    out.text(MULTISTATUS_OPEN);
    for await (const e of entries) {
      // Responses already rendered (renderedParts, kept by the caller) are copied as they are.
      if (Buffer.isBuffer(e)) out.bytes(e);
      else renderResponseTo(e, minimal, out);
      if (out.length >= 64 * 1024) yield out.take();
    }
    for (const x of extra()) out.text(serializeFragment(x));
    out.text("</D:multistatus>");
    yield out.take();
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** A whole 207 as bytes (the same document as multistatus(), with served calendar-data copied). */
export function multistatusBytes(entries: readonly ResponseEntry[], minimal: boolean): Buffer {
  const out = new ByteChunks();
  out.text(MULTISTATUS_OPEN);
  for (const e of entries) renderResponseTo(e, minimal, out);
  out.text("</D:multistatus>");
  return out.take();
}

/** Responses rendered to bytes, in chunks of about `chunk` bytes: for a caller that keeps them (multistatusStream copies them). */
export async function renderedParts(entries: AsyncIterable<ResponseEntry> | Iterable<ResponseEntry>, minimal: boolean, chunk = 64 * 1024): Promise<Buffer[]> {
  const out = new ByteChunks();
  const parts: Buffer[] = [];
  for await (const e of entries) {
    renderResponseTo(e, minimal, out);
    if (out.length >= chunk) parts.push(owned(out.take()));
  }
  if (out.length > 0) parts.push(owned(out.take()));
  return parts;
}

const MULTISTATUS_OPEN = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus${[...ROOT_NAMESPACES].map(([ns, p]) => ` xmlns:${p}="${escapeAttr(ns)}"`).join("")}>`;

/** Text and byte parts gathered into Buffers: text is encoded in runs, bytes are copied once. */
class ByteChunks {
  private parts: Buffer[] = [];
  private pending = "";
  private size = 0;
  get length(): number {
    return this.size + this.pending.length;
  }
  text(s: string): void {
    this.pending += s;
  }
  bytes(b: Buffer): void {
    this.flushText();
    this.parts.push(b);
    this.size += b.length;
  }
  take(): Buffer {
    this.flushText();
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    return out;
  }
  private flushText(): void {
    if (this.pending === "") return;
    const b = Buffer.from(this.pending, "utf8");
    this.parts.push(b);
    this.size += b.length;
    this.pending = "";
  }
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

/** renderResponse into byte chunks, copying the kept bytes of served calendar-data. */
function renderResponseTo(entry: ResponseEntry, minimal: boolean, out: ByteChunks): void {
  if ("status" in entry || !entry.props.some((p) => p.prop.bytes !== undefined) || !entry.props.every((p) => p.status === 200 && !p.error)) {
    out.text(renderResponse(entry, minimal));
    return;
  }
  out.text(`<D:response><D:href>${escapeText(entry.href)}</D:href><D:propstat><D:prop>`);
  for (const p of entry.props) {
    const tags = p.prop.bytes !== undefined && Object.keys(p.prop.attrs).length === 0 ? tagPair(p.prop.name) : null;
    if (tags === null) {
      out.text(serializeFragment(p.prop));
      continue;
    }
    out.text(tags[0]);
    out.bytes(p.prop.bytes!);
    out.text(tags[1]);
  }
  out.text(`</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`);
}
