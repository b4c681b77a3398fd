/**
 * The bytes an object is served as, made once per stored object instance: the service keeps
 * unchanged objects (sync/object-cache.ts, whose byte budget counts these too), so a GET or a
 * calendar-multiget of a cached object copies ready bytes instead of encoding and escaping its text
 * on every request. Entries die with the object they were made for.
 */
import { escapedBytes } from "../xml/build.ts";
import { ownedUtf8 } from "../xml/bytes.ts";
import { SerialisedText } from "../xml/tree.ts";
import type { StoredObject } from "./service.ts";

const served = new WeakMap<StoredObject, { body?: Buffer; data?: SerialisedText }>();

function slot(obj: StoredObject): { body?: Buffer; data?: SerialisedText } {
  let s = served.get(obj);
  if (!s) served.set(obj, (s = {}));
  return s;
}

/** The object's text as UTF-8, the body of a GET. */
export function bodyBytes(obj: StoredObject): Buffer {
  if (obj.bytes) return obj.bytes;
  const s = slot(obj);
  return (s.body ??= ownedUtf8(obj.ics));
}

/** The object's text as CALDAV:calendar-data, escaped for XML once. */
export function calendarDataText(obj: StoredObject): SerialisedText {
  const s = slot(obj);
  if (s.data) return s.data;
  // The text is not kept here: the object decodes it again for the rare serialiser that wants it.
  return (s.data = new SerialisedText(() => obj.ics, escapedBytes(obj.ics)));
}
