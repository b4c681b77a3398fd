/**
 * test/fixtures/corpus/ics through the HTTP endpoint: every valid file round-trips through PUT/GET unchanged in
 * meaning (whole-calendar exports with several UIDs are split into one object per UID, as a client
 * importing them does); every malformed file is accepted (and then round-trips) or rejected with a
 * DAV:error naming the problem. Never a 500, and a rejected PUT leaves nothing behind.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ICAL from "ical.js";
import { startInproc, basic, type InprocServer } from "../helpers/inproc.ts";
import { CORPUS_ICS_DIR } from "../helpers/fixtures.ts";

const rows = readFileSync(join(CORPUS_ICS_DIR, "INDEX.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
const CAL = "/dav/calendars/alice/corpus/";
const auth = basic("alice", "secret-a");

let s: InprocServer;
before(async () => {
  s = await startInproc();
  const r = await fetch(s.url + CAL, { method: "MKCALENDAR", headers: { authorization: auth, "content-type": "application/xml" }, body: `<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/><C:comp name="VJOURNAL"/><C:comp name="VFREEBUSY"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>` });
  assert.equal(r.status, 201);
});
after(() => s.stop());

/** Meaning of an iCalendar text: its jCal without METHOD (which calgate strips), components sorted. */
function meaning(text: string): unknown {
  const root = new ICAL.Component(ICAL.parse(text) as unknown[]);
  root.removeAllProperties("method");
  const norm = (c: ICAL.Component): unknown => ({
    name: c.name,
    props: c.getAllProperties().map((p) => JSON.stringify(p.toJSON())).sort(),
    comps: c.getAllSubcomponents().map(norm).map((x) => JSON.stringify(x)).sort(),
  });
  return norm(root);
}

/** One object per UID, each with the file's VTIMEZONEs (what an importing client PUTs). */
function splitByUid(text: string): Map<string, string> {
  const root = new ICAL.Component(ICAL.parse(text) as unknown[]);
  const zones = root.getAllSubcomponents("vtimezone");
  const groups = new Map<string, ICAL.Component[]>();
  for (const c of root.getAllSubcomponents()) {
    if (c.name === "vtimezone") continue;
    const uid = String(c.getFirstPropertyValue("uid") ?? "");
    groups.set(uid, [...(groups.get(uid) ?? []), c]);
  }
  const out = new Map<string, string>();
  for (const [uid, comps] of groups) {
    const cal = new ICAL.Component("vcalendar");
    cal.addPropertyWithValue("version", "2.0");
    cal.addPropertyWithValue("prodid", String(root.getFirstPropertyValue("prodid") ?? "-//calgate corpus split//EN"));
    for (const z of zones) cal.addSubcomponent(new ICAL.Component(z.toJSON() as unknown[]));
    for (const c of comps) cal.addSubcomponent(new ICAL.Component(c.toJSON() as unknown[]));
    out.set(uid, cal.toString() + "\r\n");
  }
  return out;
}

let n = 0;
async function put(body: Buffer | string): Promise<{ status: number; text: string; href: string }> {
  const href = `${CAL}obj-${n++}.ics`;
  const r = await fetch(s.url + href, { method: "PUT", headers: { authorization: auth, "content-type": "text/calendar" }, body });
  return { status: r.status, text: await r.text(), href };
}
/** Objects are removed after their check: different corpus files reuse UIDs. */
async function remove(href: string): Promise<void> {
  const r = await fetch(s.url + href, { method: "DELETE", headers: { authorization: auth } });
  assert.equal(r.status, 204);
}
async function get(href: string): Promise<{ status: number; text: string }> {
  const r = await fetch(s.url + href, { headers: { authorization: auth } });
  return { status: r.status, text: await r.text() };
}

for (const [path, producer, , features, expectedValid] of rows) {
  test(`${path} (${producer}; ${expectedValid === "yes" ? "valid" : "malformed"})`, async () => {
    const bytes = readFileSync(join(CORPUS_ICS_DIR, path!));
    const first = await put(bytes);
    assert.notEqual(first.status, 500, first.text);
    if (first.status === 201) {
      const back = await get(first.href);
      assert.equal(back.status, 200);
      const sent = bytes.toString("utf8");
      if (!features!.includes("non-utf8")) assert.deepEqual(meaning(back.text), meaning(sent), "GET returns what PUT stored, unchanged in meaning");
      await remove(first.href);
      return;
    }
    assert.ok(first.status === 403 || first.status === 415, `rejections are 403/415, got ${first.status}`);
    assert.match(first.text, /<D:error[^>]*>.*(valid-calendar-data|valid-calendar-object-resource|supported-calendar-data)/s);
    assert.match(first.text, /<G:message>[^<]{10,}<\/G:message>/, "the error says what was wrong");
    assert.equal((await get(first.href)).status, 404, "a rejected PUT stores nothing");
    if (expectedValid === "yes") {
      // Valid iCalendar that is not one calendar object resource: several UIDs. Split as clients do.
      assert.match(first.text, /UID/, "valid files are only refused for holding several UIDs");
      const parts = splitByUid(bytes.toString("utf8"));
      assert.ok(parts.size > 1);
      for (const [, text] of parts) {
        const p = await put(text);
        assert.equal(p.status, 201, `split object: ${p.text}`);
        const back = await get(p.href);
        assert.deepEqual(meaning(back.text), meaning(text));
        await remove(p.href);
      }
    }
  });
}
