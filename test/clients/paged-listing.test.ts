/**
 * python3-caldav (Debian 0.11) against a calendar too large to keep its listing, so that PROPFIND
 * Depth 1 and the empty-token sync-collection are read in pages as they stream (the server is
 * started with pages of 3 above 5 members, instead of 2,000 above 25,000): the client's initial
 * sync and children() see every member once, and its delta from the returned token sees a create,
 * a change and a delete made afterwards. A time-range search whose answer the occurrence index reads
 * in pages returns every event in the range once, with its text as stored (XML specials included).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { startInproc, type InprocServer } from "../helpers/inproc.ts";

const PYTHON = process.env.CALGATE_TEST_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
const probe = spawnSync(PYTHON, ["-c", "import caldav"], { encoding: "utf8" });
const missing = probe.status === 0 ? null : `python3-caldav is not importable (Debian package "python3-caldav"): ${(probe.stderr ?? String(probe.error)).trim()}`;

const ics = (uid: string, summary = "x", when: string[] = ["DTSTART:20260105T100000Z", "DTEND:20260105T110000Z"]): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", ...when, `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

// The client: an initial sync (empty token), children() (PROPFIND Depth 1), then, after the test's
// writes (it waits for a line on stdin), a delta from the token. Prints one JSON line per step.
const SCRIPT = `
import json, sys, caldav
from urllib.parse import unquote
client = caldav.DAVClient(url=sys.argv[1], username="alice", password="secret-a")
cal = caldav.Calendar(client=client, url=sys.argv[1])
last = lambda url: unquote(str(url).rstrip("/").split("/")[-1])
name = lambda o: last(o.url)
first = cal.objects_by_sync_token(load_objects=False)
print(json.dumps({"step": "initial", "names": sorted(name(o) for o in first), "token": first.sync_token}), flush=True)
print(json.dumps({"step": "children", "names": sorted(last(c[0]) for c in cal.children())}), flush=True)
sys.stdin.readline()
delta = cal.objects_by_sync_token(sync_token=first.sync_token, load_objects=True)
got = {}
for o in delta:
    got[name(o)] = None if o.data is None else ("SUMMARY:changed" in o.data)
print(json.dumps({"step": "delta", "objects": got}), flush=True)
`;

describe("python3-caldav on a calendar listed in pages", { skip: missing ?? false }, () => {
  let server: InprocServer;
  before(async () => {
    server = await startInproc(undefined, { memberListing: { keepMembers: 5, pageMembers: 3 } });
  });
  after(async () => {
    await server?.stop();
  });

  test("initial sync and Depth 1 list every member once; the delta from the token brings later writes", async () => {
    const calUrl = `${server.url}/dav/calendars/alice/local-personal/`;
    const auth = "Basic " + Buffer.from("alice:secret-a").toString("base64");
    const send = async (method: string, name: string, body?: string): Promise<void> => {
      const r = await fetch(`${calUrl}${name}`, { method, headers: { authorization: auth, "content-type": "text/calendar; charset=utf-8" }, ...(body ? { body } : {}) });
      await r.arrayBuffer();
      assert.ok(r.status < 300, `${method} ${name} → ${r.status}`);
    };
    const names = Array.from({ length: 14 }, (_, i) => `ev-${String(i).padStart(2, "0")}.ics`);
    for (const n of names) await send("PUT", n, ics(n.replace(".ics", "")));

    const { spawn } = await import("node:child_process");
    const py = spawn(PYTHON, ["-c", SCRIPT, calUrl], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    py.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const lines: Record<string, unknown>[] = [];
    const waitFor = (step: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = lines.find((l) => l.step === step);
          if (hit) resolve(hit);
          return Boolean(hit);
        };
        if (check()) return;
        const onData = (d: Buffer): void => {
          out += d.toString();
          let i: number;
          while ((i = out.indexOf("\n")) >= 0) {
            lines.push(JSON.parse(out.slice(0, i)) as Record<string, unknown>);
            out = out.slice(i + 1);
          }
          if (check()) py.stdout.off("data", onData);
        };
        py.stdout.on("data", onData);
        py.once("exit", (code) => reject(new Error(`python3-caldav exited (${code}) before "${step}": ${err}`)));
      });

    const initial = await waitFor("initial");
    assert.deepEqual(initial.names, names, "the initial sync lists every member once");
    assert.ok(typeof initial.token === "string" && initial.token !== "");
    assert.deepEqual((await waitFor("children")).names, names, "PROPFIND Depth 1 lists every member once");

    await send("PUT", "ev-15.ics", ics("ev-15"));
    await send("PUT", "ev-03.ics", ics("ev-03", "changed"));
    await send("DELETE", "ev-07.ics");
    py.stdin.write("go\n");
    const delta = await waitFor("delta");
    const objects = delta.objects as Record<string, boolean | null>;
    assert.equal(objects["ev-15.ics"], false, "the create, with its data");
    assert.equal(objects["ev-03.ics"], true, "the change, with its new data");
    assert.ok("ev-07.ics" in objects, "the delete is reported");
    assert.deepEqual(Object.keys(objects).sort(), ["ev-03.ics", "ev-07.ics", "ev-15.ics"], "nothing else changed");
    await new Promise((r) => py.once("exit", r));
  });

  test("a time-range search answered from the occurrence index in pages finds every event in the range once, text intact", async () => {
    const calUrl = `${server.url}/dav/calendars/alice/local-personal/`;
    const auth = "Basic " + Buffer.from("alice:secret-a").toString("base64");
    const puts = new Map<string, string>();
    const put = async (name: string, body: string): Promise<void> => {
      puts.set(name, body);
      const r = await fetch(`${calUrl}${name}`, { method: "PUT", headers: { authorization: auth, "content-type": "text/calendar; charset=utf-8" }, body });
      await r.arrayBuffer();
      assert.ok(r.status < 300, `PUT ${name} → ${r.status}`);
    };
    // March 2040 is past the index's five-year horizon: single events there are decided by the index
    // (8 of them: pages of 3), endless rules are evaluated instead.
    const inRange = Array.from({ length: 8 }, (_, i) => `march-${i}.ics`);
    for (const [i, n] of inRange.entries()) await put(n, ics(n.replace(".ics", ""), `Fish & chips <${i}> for "all"`, [`DTSTART:204003${String(i + 10)}T100000Z`, `DTSTART:204003${String(i + 10)}T110000Z`].map((l, k) => (k === 1 ? l.replace("DTSTART", "DTEND") : l))));
    for (const n of ["may-0.ics", "may-1.ics"]) await put(n, ics(n.replace(".ics", ""), "later", ["DTSTART:20400510T100000Z", "DTEND:20400510T110000Z"]));
    await put("daily.ics", ics("daily", "every day", ["DTSTART:20260105T100000Z", "DTEND:20260105T110000Z", "RRULE:FREQ=DAILY"]));
    await put("junes.ics", ics("junes", "every June", ["DTSTART:20260605T100000Z", "DTEND:20260605T110000Z", "RRULE:FREQ=YEARLY"]));

    const script = `
import json, sys, datetime, caldav
from urllib.parse import unquote
client = caldav.DAVClient(url=sys.argv[1], username="alice", password="secret-a")
cal = caldav.Calendar(client=client, url=sys.argv[1])
utc = datetime.timezone.utc
found = cal.date_search(start=datetime.datetime(2040, 3, 1, tzinfo=utc), end=datetime.datetime(2040, 4, 1, tzinfo=utc), compfilter="VEVENT", expand=False)
names = [unquote(str(o.url).rstrip("/").split("/")[-1]) for o in found]
data = {unquote(str(o.url).rstrip("/").split("/")[-1]): o.data for o in found}
got = caldav.Event(client=client, url=sys.argv[1] + "march-3.ics", parent=cal).load().data
print(json.dumps({"names": names, "data": data, "get": got}))
`;
    // Not spawnSync: the server runs in this process and must answer while the client runs.
    const { spawn } = await import("node:child_process");
    const py = spawn(PYTHON, ["-c", script, calUrl], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    py.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    py.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => py.once("exit", r));
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout.trim().split("\n").pop()!) as { names: string[]; data: Record<string, string>; get: string };
    assert.equal(new Set(out.names).size, out.names.length, "no event twice");
    assert.deepEqual([...out.names].sort(), [...inRange, "daily.ics"].sort(), "the March events and the daily series, nothing else");
    for (const [i, n] of inRange.entries()) assert.match(out.data[n] ?? "", new RegExp(`SUMMARY:Fish & chips <${i}> for "all"\r?\n`), `${n}'s calendar-data as stored`);
    assert.match(out.get, /SUMMARY:Fish & chips <3> for "all"\r?\n/, "the client's GET reads the text");
    // The search read the objects into the server's cache, where they are kept XML-escaped: a GET now
    // undoes that, and must give back exactly the bytes that were PUT.
    const get = await fetch(`${calUrl}march-3.ics`, { headers: { authorization: auth } });
    const body = Buffer.from(await get.arrayBuffer());
    assert.equal(get.status, 200);
    assert.ok(body.equals(Buffer.from(puts.get("march-3.ics")!, "utf8")), `GET gives back the PUT bytes: ${JSON.stringify(body.toString())}`);
    assert.equal(get.headers.get("content-length"), String(body.length));
  });
});
