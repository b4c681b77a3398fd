/** The copy a merged calendar shows among copies of one UID (src/sync/merged-dedupe.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { chooseCopy, organizerOf, type Copy } from "../../src/sync/merged-dedupe.ts";

const withOrganizer = (org: string | null): string =>
  ["BEGIN:VCALENDAR", "BEGIN:VEVENT", "UID:x", ...(org ? [`ORGANIZER;CN="Boss: the one":mailto:${org}`] : []), "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

test("organizerOf reads the address past quoted parameters, folded lines and case", () => {
  assert.equal(organizerOf(withOrganizer("Boss@Example.com")), "boss@example.com");
  assert.equal(organizerOf("BEGIN:VEVENT\r\nORGANIZER;CN=A:mailto:a@exa\r\n mple.com\r\nEND:VEVENT\r\n"), "a@example.com");
  assert.equal(organizerOf(withOrganizer(null)), null);
});

test("the organizer's copy wins over include order; else the first included calendar's", () => {
  const copies: Copy[] = [
    { calendarId: 1, objectName: "a.ics", etag: "1", ics: withOrganizer("boss@example.com") },
    { calendarId: 2, objectName: "b.ics", etag: "2", ics: withOrganizer("boss@example.com") },
  ];
  assert.equal(chooseCopy(copies, [1, 2], new Map())!.calendarId, 1);
  assert.equal(chooseCopy(copies, [2, 1], new Map())!.calendarId, 2);
  assert.equal(chooseCopy(copies, [1, 2], new Map([[2, new Set(["boss@example.com"])]]))!.calendarId, 2);
  assert.equal(chooseCopy([], [1], new Map()), null);
});

test("the choice depends only on the copies and the include order, not on the order they are listed in", () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 6 }), fc.nat(), (ids, ownerOf, seed) => {
      const copies = ids.map((id) => ({ calendarId: id, objectName: `${id}.ics`, etag: String(id), ics: withOrganizer("boss@example.com") }));
      const order = [...ids].sort((a, b) => ((a * 7919 + seed) % 13) - ((b * 7919 + seed) % 13));
      const owners = new Map([[ownerOf, new Set(["boss@example.com"])]]);
      const shuffled = [...copies].reverse();
      assert.deepEqual(chooseCopy(copies, order, owners), chooseCopy(shuffled, order, owners));
      const pick = chooseCopy(copies, order, owners)!;
      assert.equal(pick.calendarId, ids.includes(ownerOf) ? ownerOf : order[0]);
    }),
  );
});
