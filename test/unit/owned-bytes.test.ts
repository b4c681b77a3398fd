/** Kept bytes have memory of their own (src/xml/bytes.ts): a kept slice of a shared slab would pin it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { owned, ownedUtf8 } from "../../src/xml/bytes.ts";
import { escapedBytes } from "../../src/xml/build.ts";
import { renderedParts } from "../../src/xml/multistatus.ts";
import { kept } from "../../src/sync/object-cache.ts";
import { bodyBytes } from "../../src/dav/served.ts";
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

test("every cached form of an object owns its bytes", () => {
  const ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u1\r\nSUMMARY:a < b & c\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
  const obj: StoredObject = { name: "u1.ics", uid: "u1", component: "VEVENT", etag: '"e"', ics, size: Buffer.byteLength(ics), modifiedAt: 0 };
  const k = kept(obj);
  assert.ok(k.bytes && alone(k.bytes));
  assert.equal(k.ics, ics);
  assert.ok(alone(bodyBytes(obj)), "GET body of an object that is not kept");
  const esc = escapedBytes(ics);
  assert.ok(alone(esc));
  assert.equal(esc.toString("utf8"), "BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\nBEGIN:VEVENT&#13;\nUID:u1&#13;\nSUMMARY:a &lt; b &amp; c&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n");
});

test("rendered listing parts that are kept own their bytes, small ones too", async () => {
  const parts = await renderedParts([{ href: "/dav/calendars/alice/work/a.ics", status: 404 }], false);
  assert.equal(parts.length, 1);
  assert.ok(alone(parts[0]!), "a part shorter than the pool's half-slab is copied out of it");
  assert.match(parts[0]!.toString("utf8"), /a\.ics/);
});
