/**
 * A merged calendar over a local calendar and a Google source (the emulator, through the official
 * library): a meeting present in both shows once, as the organizer's copy (the Google calendar whose
 * id is the ORGANIZER's address) even though the local calendar is included first; an edit through
 * the merged calendar reaches Google. Issue 12, deliverable 1 (dedupe "preferring the organizer's source").
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startGoogleEmulator, type GoogleEmulator } from "../../emulators/google/index.ts";
import { parseConfigText } from "../../../src/config/load.ts";
import { startServer } from "../../../src/main.ts";
import { openDb } from "../../../src/store/db.ts";
import { SecretStore } from "../../../src/store/secrets.ts";
import { SecretBox } from "../../../src/auth/crypto.ts";
import { col, freePort, objects, req, syncNow, uidOf, unfold, vevent, type World } from "../../helpers/dav-world.ts";

const EMAIL = "alice@example.com";
const CLIENT = { clientId: "calgate-test.apps.googleusercontent.com", clientSecret: "test-client-secret" };
const SECRET_KEY = "google-test-secret-key-0123456789abcdef";
const summary = (ics: string): string => /^SUMMARY[^:]*:(.*)$/m.exec(unfold(ics))![1]!.trim();

describe("merged calendar over a local calendar and Google", () => {
  let emu: GoogleEmulator;
  let w: World;
  before(async () => {
    emu = await startGoogleEmulator({ seed: 3, requireHttpsWebhooks: false });
    emu.addClient(CLIENT);
    emu.addAccount(EMAIL, { timeZone: "Europe/Zurich" });
    emu.importEvent(EMAIL, {
      iCalUID: "standup-1@example.com", summary: "Standup (organizer copy)", organizer: { email: EMAIL },
      attendees: [{ email: EMAIL, responseStatus: "accepted" }, { email: "bob@example.com", responseStatus: "needsAction" }],
      start: { dateTime: "2026-12-14T09:00:00Z" }, end: { dateTime: "2026-12-14T09:15:00Z" },
    });
    const dir = mkdtempSync(join(tmpdir(), "calgate-merged-google-"));
    const filename = join(dir, "db.sqlite");
    const db = await openDb(filename);
    const grant = emu.grant(CLIENT.clientId, EMAIL, ["https://www.googleapis.com/auth/calendar"]);
    await new SecretStore(db, SecretBox.fromSecretKey(SECRET_KEY)).put("alice", "work", "oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: "https://www.googleapis.com/auth/calendar", obtained_at: Date.now(), client_id: CLIENT.clientId }));
    const yaml = `server: { host: 127.0.0.1, port: ${await freePort()} }
storage: { client: sqlite, filename: ${filename} }
secretKey: ${SECRET_KEY}
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 5000 }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: home, type: local, calendars: [ { id: invites, name: Invites } ] }
      - { id: work, type: google, clientId: ${CLIENT.clientId}, clientSecret: ${CLIENT.clientSecret}, apiUrl: "${emu.apiUrl}", authUrl: "${emu.authUrl}", tokenUrl: "${emu.tokenUrl}" }
    merged:
      - { id: all, name: All, include: ["home/*", "work/*"], writeTo: home/invites }
`;
    const server = await startServer(parseConfigText(yaml, "merged-google.yaml", {}), { configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }) });
    w = { server, db, dir, base: server.url.replace(/\/$/, "") };
  });
  after(async () => {
    await w?.server.close();
    await w?.db.destroy();
    await emu?.close();
    if (w) rmSync(w.dir, { recursive: true, force: true });
  });

  test("one copy of a meeting, the organizer's, and edits reach Google", async () => {
    const copy = vevent("standup-1@example.com", "Standup (attendee copy)", ["DTSTART:20261214T090000Z", "DTEND:20261214T091500Z", `ORGANIZER:mailto:${EMAIL}`, "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.com"]);
    assert.equal((await req(col(w, "home-invites") + "standup.ics", "PUT", copy)).status, 201);
    await syncNow(w);
    const all = [...(await objects(col(w, "all")))];
    const standup = all.filter(([, ics]) => uidOf(ics) === "standup-1@example.com");
    assert.equal(standup.length, 1, "the meeting shows once");
    const [name, ics] = standup[0]!;
    assert.equal(summary(ics), "Standup (organizer copy)", "the copy in the organizer's calendar (the Google calendar whose id is the ORGANIZER)");

    const etag = (await req(col(w, "all") + encodeURIComponent(name), "GET")).headers.get("etag")!;
    const edited = unfold(ics).replace(/^SUMMARY[^:\n]*:.*$/m, "SUMMARY:Standup moved").replace(/\r?\n/g, "\r\n");
    const put = await req(col(w, "all") + encodeURIComponent(name), "PUT", edited, { "if-match": etag });
    assert.ok(put.status === 204 || put.status === 201, `${put.status} ${put.body}`);
    const atGoogle = emu.events(EMAIL).find((e: { iCalUID?: string }) => e.iCalUID === "standup-1@example.com");
    assert.equal(atGoogle?.summary, "Standup moved", "the edit reached the organizer's Google calendar");
    assert.equal(summary((await objects(col(w, "home-invites"))).get("standup.ics")!), "Standup (attendee copy)", "the other copy is untouched");
  });
});
