/** XML names in Clark notation ("{DAV:}getetag") and the one namespace table of the project. */
export type Clark = `{${string}}${string}`;

export const NS = {
  DAV: "DAV:",
  CALDAV: "urn:ietf:params:xml:ns:caldav",
  CS: "http://calendarserver.org/ns/",
  APPLE: "http://apple.com/ns/ical/",
  CALGATE: "urn:calgate:ns",
} as const;

/** Preferred prefixes when serialising; other namespaces get generated prefixes. */
export const PREFIXES: Readonly<Record<string, string>> = {
  [NS.DAV]: "D",
  [NS.CALDAV]: "C",
  [NS.CS]: "CS",
  [NS.APPLE]: "A",
  [NS.CALGATE]: "G",
};

export function clark(ns: string, local: string): Clark {
  return `{${ns}}${local}` as Clark;
}
export const dav = (local: string): Clark => clark(NS.DAV, local);
export const cal = (local: string): Clark => clark(NS.CALDAV, local);
export const cs = (local: string): Clark => clark(NS.CS, local);
export const apple = (local: string): Clark => clark(NS.APPLE, local);

export function splitClark(name: Clark): { ns: string; local: string } {
  const close = name.indexOf("}");
  return { ns: name.slice(1, close), local: name.slice(close + 1) };
}
