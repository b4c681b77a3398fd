/**
 * The bytes an object is served as. The service keeps unchanged objects (sync/object-cache.ts) with
 * their text already XML-escaped (`escaped`), the form calendar-multiget copies into its 207 without
 * escaping per request; a GET undoes the four entities, a few microseconds for one object. Objects
 * that are not kept are encoded for the request that read them.
 */
import { escapedBytes, unescapedBytes } from "../xml/build.ts";
import { SerialisedText } from "../xml/tree.ts";
import type { StoredObject } from "./service.ts";

/** The object's text as UTF-8, the body of a GET. */
export function bodyBytes(obj: StoredObject): Buffer {
  return obj.escaped ? unescapedBytes(obj.escaped) : Buffer.from(obj.ics, "utf8");
}

/** The object's text as CALDAV:calendar-data, escaped for XML. */
export function calendarDataText(obj: StoredObject): SerialisedText {
  // The text is not kept here: the object decodes it again for the rare serialiser that wants it.
  return new SerialisedText(() => obj.ics, obj.escaped ?? escapedBytes(obj.ics));
}
