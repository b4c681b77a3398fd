/** The pure sync plan: matching, content-equality, queued local writes, moves, and the empty-upstream guard. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { plan, nameFor, SuspiciousEmptyUpstream, type Link } from "../../src/sync/plan.ts";
import { contentKey } from "../../src/sync/conflict.ts";

const H = "http://up.example/cal/";
const link = (name: string, uid: string, etag = `"g-${name}"`, href: string | null = `${H}${name}`): Link => ({ name, uid, etag, upstream_href: href, upstream_etag: `"u-${name}"` });
const up = (name: string, uid: string, gatewayEtag: string) => ({ kind: "upsert" as const, id: `${H}${name}`, etag: `"u2-${name}"`, uid, gatewayEtag, ics: "X", nameHint: name });

describe("plan", () => {
  test("new, changed, unchanged and deleted items", () => {
    const links = [link("a.ics", "a"), link("b.ics", "b"), link("c.ics", "c")];
    const actions = plan({ links, pending: new Set(), listed: null, incoming: [up("a.ics", "a", `"g-a.ics"`), up("b.ics", "b", `"other"`), up("d.ics", "d", `"x"`), { kind: "delete", id: `${H}c.ics` }] });
    assert.deepEqual(actions.map((a) => [a.type, a.type === "skip" ? a.id : a.name]), [["link", "a.ics"], ["update", "b.ics"], ["create", "d.ics"], ["delete", "c.ics"]]);
  });
  test("a full listing deletes what it no longer lists, but never everything at once", () => {
    const links = [link("a.ics", "a"), link("b.ics", "b")];
    const actions = plan({ links, pending: new Set(), listed: new Map([[`${H}a.ics`, `"u-a.ics"`]]), incoming: [] });
    assert.deepEqual(actions.map((a) => [a.type, a.type === "skip" ? null : a.name]), [["delete", "b.ics"]]);
    assert.throws(() => plan({ links, pending: new Set(), listed: new Map(), incoming: [] }), SuspiciousEmptyUpstream);
  });
  test("objects with a queued local write are left to the writer", () => {
    const links = [link("a.ics", "a"), link("b.ics", "b")];
    const actions = plan({ links, pending: new Set(["a.ics", "b.ics"]), listed: null, incoming: [up("a.ics", "a", `"new"`), { kind: "delete", id: `${H}b.ics` }] });
    assert.deepEqual(actions.map((a) => a.type), ["skip", "skip"]);
  });
  test("an item created here (no href yet) or moved upstream is matched by UID, not duplicated", () => {
    const links = [link("mine.ics", "m", `"g"`, null), link("old.ics", "o")];
    const actions = plan({ links, pending: new Set(), listed: new Map([[`${H}srv-1.ics`, null], [`${H}moved.ics`, null]]), incoming: [up("srv-1.ics", "m", `"g"`), up("moved.ics", "o", `"g-old.ics"`)] });
    assert.deepEqual(actions.map((a) => [a.type, a.type === "skip" ? null : a.name]), [["link", "mine.ics"], ["link", "old.ics"]]);
  });
  test("a queued delete is never resurrected by a pull (defect 15)", () => {
    // The object is gone from the cache (deleted by a client), its DELETE is still queued: the pulled version is left alone.
    const actions = plan({ links: [], pending: new Set(["a.ics"]), pendingIds: new Set([`${H}a.ics`]), listed: null, incoming: [up("a.ics", "a", `"x"`)] });
    assert.deepEqual(actions.map((a) => a.type), ["skip"]);
  });
  test("names come from the upstream href when safe, else from the UID, never clashing", () => {
    assert.equal(nameFor("abc.ics", "u", new Set()), "abc.ics");
    assert.equal(nameFor("abc.ics", "u", new Set(["abc.ics"])), "abc-2.ics");
    assert.equal(nameFor("/weird name", "uid/1@x", new Set()), "uid_1@x.ics");
  });
  test("content equality ignores folding, line endings, property order, PRODID and DTSTAMP", () => {
    const a = "BEGIN:VCALENDAR\r\nPRODID:a\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Hello wo\r\n rld\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    const b = "BEGIN:VCALENDAR\nPRODID:b\nBEGIN:VEVENT\nUID:1\nDTSTART:20240101T100000Z\nDTSTAMP:20250101T000000Z\nSUMMARY:Hello world\nEND:VEVENT\nEND:VCALENDAR\n";
    assert.equal(contentKey(a), contentKey(b));
    assert.notEqual(contentKey(a), contentKey(b.replace("Hello world", "Hello World")));
  });
});
