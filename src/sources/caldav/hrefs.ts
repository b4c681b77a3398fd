/**
 * One canonical spelling for upstream hrefs, so the same resource always compares equal whatever
 * percent-encoding the server chose: absolute URL, each path segment decoded then re-encoded.
 */
export function canonicalHref(href: string, base: string): string {
  const u = new URL(href, base);
  const path = u.pathname
    .split("/")
    .map((seg) => {
      try {
        return encodeURIComponent(decodeURIComponent(seg));
      } catch {
        return seg;
      }
    })
    .join("/");
  return `${u.origin}${path}`;
}

/** The path part of a canonical href (what goes inside DAV:href in requests). */
export function hrefPath(href: string): string {
  return new URL(href).pathname;
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}
