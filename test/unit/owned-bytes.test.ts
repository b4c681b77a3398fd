/** Kept bytes have memory of their own (src/xml/bytes.ts): a kept slice of a shared slab would pin it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { owned, ownedUtf8 } from "../../src/xml/bytes.ts";
import fc from "fast-check";
import { escapedBytes, unescapedBytes } from "../../src/xml/build.ts";
import { renderedParts } from "../../src/xml/multistatus.ts";
import { kept, renamed } from "../../src/sync/object-cache.ts";
import { bodyBytes, calendarDataText } from "../../src/dav/served.ts";
import type { StoredObject } from "../../src/dav/service.ts";

const alone = (b: Buffer): boolean => b.byteOffset === 0 && b.buffer.byteLength === b.length;

test("ownedUtf8 and owned give buffers that own their memory, with the same bytes", () => {
  const text = "SUMMARY:Встреча 会議 café 🎉\r\n";
  const pooled = Buffer.from(text, "utf8");
  assert.ok(!alone(pooled), "Buffer.from(short string) is a slice of a shared slab (else this test proves nothing)");
  const a = ownedUtf8(text);
  assert.ok(alone(a));
  assert.ok(a.equals(pooled));
  const b = owned(pooled);
  assert.ok(alone(b) && b.equals(pooled));
  assert.equal(owned(a), a, "a buffer that already owns its memory is kept as it is");
  assert.equal(ownedUtf8("").length, 0);
});

test("a kept object owns its escaped bytes and gives back its text", () => {
  const ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u1\r\nSUMMARY:a < b & c > d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
  const obj: StoredObject = { name: "u1.ics", uid: "u1", component: "VEVENT", etag: '"e"', ics, size: Buffer.byteLength(ics), modifiedAt: 0 };
  const k = kept(obj);
  assert.ok(alone(k.escaped));
  assert.equal(k.escaped.toString("utf8"), "BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\nBEGIN:VEVENT&#13;\nUID:u1&#13;\nSUMMARY:a &lt; b &amp; c &gt; d&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n");
  assert.equal(k.ics, ics);
  assert.equal(k.size, obj.size);
  assert.ok(bodyBytes(k).equals(Buffer.from(ics)), "GET of a kept object serves the text's bytes");
  assert.equal(calendarDataText(k).bytes, k.escaped, "calendar-data copies the kept bytes, not a second copy");
  const r = renamed(k, "merged-u1.ics");
  assert.equal(r.name, "merged-u1.ics");
  assert.equal(r.ics, ics, "a renamed kept object keeps its text");
  assert.deepEqual(Object.keys(r).sort(), Object.keys(k).sort());
});

test("unescapedBytes undoes escapedBytes for any text", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string({ unit: "grapheme" }), fc.constantFrom("&", "<", ">", "\r", "\r\n", "&amp;", "&#13;", "é", "🎉")), { maxLength: 40 }), (parts) => {
      const s = parts.join("");
      const esc = escapedBytes(s);
      const back = unescapedBytes(esc);
      assert.ok(back.equals(Buffer.from(s, "utf8")), JSON.stringify(s));
      assert.ok(!/[<>\r]/.test(esc.toString("utf8")));
    }),
    { numRuns: 2000 },
  );
  assert.throws(() => unescapedBytes(Buffer.from("a &quot; b")), /not escapeText output/);
});

test("rendered listing parts that are kept own their bytes, small ones too", async () => {
  const parts = await renderedParts([{ href: "/dav/calendars/alice/work/a.ics", status: 404 }], false);
  assert.equal(parts.length, 1);
  assert.ok(alone(parts[0]!), "a part shorter than the pool's half-slab is copied out of it");
  assert.match(parts[0]!.toString("utf8"), /a\.ics/);
});
