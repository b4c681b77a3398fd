/**
 * python3-caldav (Debian 0.11) against a calendar too large to keep its listing, so that PROPFIND
 * Depth 1 and the empty-token sync-collection are read in pages as they stream (the server is
 * started with pages of 3 above 5 members, instead of 2,000 above 25,000): the client's initial
 * sync and children() see every member once, and its delta from the returned token sees a create,
 * a change and a delete made afterwards.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { startInproc, type InprocServer } from "../helpers/inproc.ts";

const PYTHON = process.env.CALGATE_TEST_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
const probe = spawnSync(PYTHON, ["-c", "import caldav"], { encoding: "utf8" });
const missing = probe.status === 0 ? null : `python3-caldav is not importable (Debian package "python3-caldav"): ${(probe.stderr ?? String(probe.error)).trim()}`;

const ics = (uid: string, summary = "x"): string =>
  ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20260101T000000Z", "DTSTART:20260105T100000Z", "DTEND:20260105T110000Z", `SUMMARY:${summary}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

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
});
