/**
 * An upstream's member listing (sync-collection, or PROPFIND Depth 1 for getetag) read from the
 * parser's events: each response's hrefs, status and getetag, and the sync token, without building
 * an XML tree. A 10,000-member listing parsed as a tree held ~256,000 objects (~40 MB) at once
 * (bench/README.md, "Third pass"); a listing is all the first sync of a large calendar holds.
 * Reads what parseMultistatus + propText read (test/unit/caldav-listing.test.ts compares them).
 */
import sax from "sax";
import { Transient } from "../adapter.ts";
import { statusCode } from "./multistatus.ts";

export interface ListedResponse {
  href: string;
  /** Response-level status (e.g. 404 in sync-collection), or null when the response has propstats. */
  status: number | null;
  /** DAV:getetag from a 2xx propstat, or null when none has it. */
  etag: string | null;
}

const DAV = "DAV:";
const MAX_DEPTH = 64;
const MAX_ELEMENTS = 5_000_000;

interface Open {
  readonly uri: string;
  readonly local: string;
  /** Direct text is collected for this element (href, status, getetag, sync-token). */
  text: string | null;
}

/** Parses a listing multistatus; an unparsable, truncated or unexpected body is a transient failure (retry). */
export function parseListing(body: string, where: string): { responses: ListedResponse[]; syncToken: string | null } {
  // As for every XML calgate reads (xml/parse.ts): no DTD, so no entity but XML's own.
  if (/<!DOCTYPE/i.test(body) || /<!ENTITY/i.test(body)) throw new Transient(`${where}: unreadable multistatus (DOCTYPE and entity declarations are not accepted)`);
  const responses: ListedResponse[] = [];
  let syncToken: string | null = null;
  const stack: Open[] = [];
  let elements = 0;
  let response: { hrefs: string[]; status: string | null; etag: string | null } | null = null;
  let propstat: { status: string | null; etag: string | null } | null = null;
  let failure: string | null = null;

  const parser = sax.parser(true, { xmlns: true, trim: false, normalize: false, position: false });
  const isDav = (o: Open | undefined, local: string): boolean => o !== undefined && o.uri === DAV && o.local === local;
  parser.onerror = (e) => {
    failure ??= e.message.split("\n")[0] ?? "malformed XML";
    throw e;
  };
  parser.onopentag = (tag) => {
    const t = tag as sax.QualifiedTag;
    if (stack.length >= MAX_DEPTH) throw new Error(`XML nested deeper than ${MAX_DEPTH} levels`);
    if (++elements > MAX_ELEMENTS) throw new Error(`XML has more than ${MAX_ELEMENTS} elements`);
    if (t.prefix !== "" && t.uri === "") throw new Error(`undeclared namespace prefix "${t.prefix}" on <${t.name}>`);
    const parent = stack[stack.length - 1];
    const open: Open = { uri: t.uri, local: t.local, text: null };
    const depth = stack.length; // of the new element: 0 is the root
    if (depth === 0 && !(t.uri === DAV && t.local === "multistatus")) throw new Error(`expected a DAV:multistatus, got {${t.uri}}${t.local}`);
    if (depth === 1 && t.uri === DAV && t.local === "response") response = { hrefs: [], status: null, etag: null };
    if (depth === 1 && t.uri === DAV && t.local === "sync-token") open.text = "";
    if (depth === 2 && response && isDav(parent, "response") && t.uri === DAV) {
      if (t.local === "href" || (t.local === "status" && response.status === null)) open.text = "";
      if (t.local === "propstat") propstat = { status: null, etag: null };
    }
    if (depth === 3 && propstat && isDav(parent, "propstat") && t.uri === DAV && t.local === "status" && propstat.status === null) open.text = "";
    if (depth === 4 && propstat && isDav(parent, "prop") && t.uri === DAV && t.local === "getetag") open.text = "";
    stack.push(open);
  };
  const addText = (s: string): void => {
    const top = stack[stack.length - 1];
    // XML 1.0 section 2.11: a parser hands on every line end as LF (sax keeps CR).
    if (top && top.text !== null) top.text += s.includes("\r") ? s.replace(/\r\n?/g, "\n") : s;
  };
  parser.ontext = addText;
  parser.oncdata = addText;
  parser.onclosetag = () => {
    const o = stack.pop()!;
    const depth = stack.length;
    if (o.text !== null) {
      if (depth === 1) syncToken ??= o.text.trim();
      else if (depth === 2 && response) {
        if (o.local === "href") response.hrefs.push(o.text.trim());
        else response.status = o.text;
      } else if (depth === 3 && propstat) propstat.status = o.text;
      else if (depth === 4 && propstat) propstat.etag = o.text;
    }
    if (depth === 2 && o.uri === DAV && o.local === "propstat" && propstat && response) {
      const code = statusCode(propstat.status ?? "");
      // As parseMultistatus: only 2xx propstats count, and a later one wins.
      if (code !== null && code >= 200 && code <= 299 && propstat.etag !== null) response.etag = propstat.etag;
      propstat = null;
    }
    if (depth === 1 && o.uri === DAV && o.local === "response" && response) {
      const status = response.status !== null ? statusCode(response.status) : null;
      for (const href of response.hrefs) responses.push({ href, status, etag: response.etag });
      response = null;
    }
  };
  try {
    parser.write(body).close();
  } catch (e) {
    throw new Transient(`${where}: unreadable multistatus (${failure ?? (e as Error).message})`);
  }
  if (elements === 0) throw new Transient(`${where}: unreadable multistatus (no root element)`);
  return { responses, syncToken };
}
