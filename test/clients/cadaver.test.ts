/**
 * cadaver (Debian's command-line WebDAV client) as the judge of COPY and MOVE of calendar objects
 * (issue 17 item 6): copies and moves between calendars and inside one, and a COPY that CalDAV
 * refuses (a second object with the same UID in one calendar), each checked over HTTP afterwards.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startInproc, dav, type InprocServer } from "../helpers/inproc.ts";
import { which } from "../helpers/proc.ts";

const missing = which("cadaver") === null ? 'cadaver is not installed (Debian package "cadaver"; test/run.sh installs it when run as root)' : null;
const A = "/dav/calendars/alice/local-personal/";
const B = "/dav/calendars/alice/other/";
const ics = (uid: string) => ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate test//EN", "BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20060101T000000Z", "DTSTART:20060104T100000Z", "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");

describe("cadaver COPY and MOVE", { skip: missing ?? false }, () => {
  let s: InprocServer;
  let home: string;
  before(async () => {
    s = await startInproc();
    home = mkdtempSync(join(tmpdir(), "cadaver-"));
    // cadaver reads credentials from ~/.netrc when the server asks for them.
    writeFileSync(join(home, ".netrc"), `machine ${new URL(s.url).hostname}\nlogin alice\npassword secret-a\n`, { mode: 0o600 });
    assert.equal((await dav(s.url, "MKCALENDAR", B)).status, 201);
    for (const n of ["a", "b", "c"]) assert.equal((await dav(s.url, "PUT", `${A}${n}.ics`, { body: ics(n) })).status, 201);
  });
  after(async () => {
    await s.stop();
    rmSync(home, { recursive: true, force: true });
  });

  // Asynchronous: the server runs in this process, so a blocking spawn would never get an answer.
  const cadaver = (commands: string[]): Promise<string> => {
    const input = [`open ${s.url}${A}`, ...commands, "quit", ""].join("\n");
    return new Promise((resolve, reject) => {
      const p = spawn("cadaver", [], { env: { ...process.env, HOME: home }, stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      const timer = setTimeout(() => p.kill(), 20_000);
      p.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
      p.stderr.on("data", (d: Buffer) => (out += d.toString("utf8")));
      p.on("error", reject);
      p.on("close", () => {
        clearTimeout(timer);
        resolve(out);
      });
      p.stdin.end(input);
    });
  };
  const exists = async (href: string) => (await dav(s.url, "GET", href)).status === 200;

  test("copy and move between calendars and inside one succeed, and the server agrees", async () => {
    const out = await cadaver(["copy a.ics ../other/a-copy.ics", "move b.ics b-renamed.ics", "move c.ics ../other/c.ics"]);
    assert.equal(out.match(/succeeded\./g)?.length, 3, out);
    assert.ok(await exists(A + "a.ics"), "COPY keeps the source");
    assert.match((await dav(s.url, "GET", B + "a-copy.ics")).body, /UID:a/);
    assert.equal(await exists(A + "b.ics"), false);
    assert.match((await dav(s.url, "GET", A + "b-renamed.ics")).body, /UID:b/);
    assert.equal(await exists(A + "c.ics"), false);
    assert.match((await dav(s.url, "GET", B + "c.ics")).body, /UID:c/);
  });

  test("a copy inside one calendar fails (one UID, one object) and changes nothing", async () => {
    const out = await cadaver(["copy a.ics a-twin.ics"]);
    assert.match(out, /failed/, out);
    assert.match(out, /409/, out);
    assert.equal(await exists(A + "a-twin.ics"), false);
  });
});
