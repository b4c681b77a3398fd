/**
 * The Google Calendar API v3 emulator, driven through the official library and raw HTTP.
 * Every behaviour of reference §11 has a test here (marked "§11.n").
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import {
  ALICE, allPages, api, BOB, CLIENT_ID, CLIENT_SECRET, Clock, failure, oauthClient, raw, receiver, sample, SCOPES, setup, timed,
} from "./harness.ts";

const ZRH = "Europe/Zurich";

describe("OAuth (reference §9)", () => {
  it("PKCE code flow on a loopback redirect; wrong verifier → invalid_grant; code is single-use", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    emu.setConsent(ALICE);
    const auth = oauthClient(emu);
    const redirect = "http://127.0.0.1:53682/callback";
    const authorize = async (extra: Record<string, string> = {}) => {
      const { codeVerifier, codeChallenge } = await auth.generateCodeVerifierAsync();
      const url = auth.generateAuthUrl({ access_type: "offline", scope: [SCOPES.events], redirect_uri: redirect, state: "st-1", code_challenge: codeChallenge, code_challenge_method: "S256" as never, ...extra });
      const res = await fetch(url, { redirect: "manual" });
      assert.equal(res.status, 302);
      const loc = new URL(res.headers.get("location")!);
      assert.equal(loc.origin + loc.pathname, redirect);
      assert.equal(loc.searchParams.get("state"), "st-1");
      return { code: loc.searchParams.get("code")!, codeVerifier };
    };
    const bad = await authorize();
    const wrong = await failure(auth.getToken({ code: bad.code, codeVerifier: bad.codeVerifier + "x", redirect_uri: redirect }));
    assert.equal(wrong.status, 400);
    assert.equal(wrong.data.error, "invalid_grant");

    const good = await authorize();
    const { tokens } = await auth.getToken({ code: good.code, codeVerifier: good.codeVerifier, redirect_uri: redirect });
    assert.match(tokens.access_token!, /^ya29\./);
    assert.ok(tokens.refresh_token, "first offline consent yields a refresh token");
    assert.equal(tokens.token_type, "Bearer");
    assert.equal(tokens.scope, SCOPES.events);
    const reuse = await failure(auth.getToken({ code: good.code, codeVerifier: good.codeVerifier, redirect_uri: redirect }));
    assert.equal(reuse.data.error, "invalid_grant");

    // A second consent without prompt=consent gives no refresh token; prompt=consent does.
    const again = await authorize();
    assert.equal((await auth.getToken({ code: again.code, codeVerifier: again.codeVerifier, redirect_uri: redirect })).tokens.refresh_token, undefined);
    const forced = await authorize({ prompt: "consent" });
    assert.ok((await auth.getToken({ code: forced.code, codeVerifier: forced.codeVerifier, redirect_uri: redirect })).tokens.refresh_token);

    // redirect_uri must equal the authorize request's; bad client → 401 invalid_client.
    const other = await authorize();
    const mismatch = await failure(auth.getToken({ code: other.code, codeVerifier: other.codeVerifier, redirect_uri: "http://127.0.0.1:1/x" }));
    assert.equal(mismatch.status, 400);
    const badClient = await failure(oauthClient(emu, CLIENT_ID, "wrong").getToken({ code: other.code, codeVerifier: other.codeVerifier, redirect_uri: redirect }));
    assert.equal(badClient.status, 401);
    assert.equal(badClient.data.error, "invalid_client");
  });

  it("non-loopback redirects are refused; denied consent redirects with error=access_denied", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    emu.setConsent(ALICE);
    const auth = oauthClient(emu);
    const page = await fetch(auth.generateAuthUrl({ scope: [SCOPES.full], redirect_uri: "https://evil.example/cb" }), { redirect: "manual" });
    assert.equal(page.status, 400);
    for (const host of ["http://[::1]:4000/cb", "http://localhost:4000/cb"]) {
      assert.equal((await fetch(auth.generateAuthUrl({ scope: [SCOPES.full], redirect_uri: host }), { redirect: "manual" })).status, 302);
    }
    emu.denyConsent(true);
    const res = await fetch(auth.generateAuthUrl({ scope: [SCOPES.full], redirect_uri: "http://127.0.0.1:9/cb", state: "s" }), { redirect: "manual" });
    const loc = new URL(res.headers.get("location")!);
    assert.equal(loc.searchParams.get("error"), "access_denied");
    assert.equal(loc.searchParams.get("state"), "s");
    assert.equal(loc.searchParams.get("code"), null);
  });

  it("refresh on 401; revoke → invalid_grant with Google's exact body", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const a = api(emu);
    await a.cal.calendarList.list();
    emu.resetRequests();
    emu.expireAccessTokens();
    const refreshed: string[] = [];
    a.auth.on("tokens", (tk) => refreshed.push(tk.access_token!));
    // expiry_date is still in the future, so the library surfaces the 401 instead of refreshing...
    assert.equal((await failure(a.cal.calendarList.list())).status, 401);
    // ...unless told to refresh on failure: 401, refresh, retry.
    a.auth.forceRefreshOnFailure = true;
    await a.cal.calendarList.list();
    assert.deepEqual(emu.requests.map((r) => r.status), [401, 401, 200]);
    assert.equal(refreshed.length, 1);
    const unauth = await raw(emu, "GET", "calendar/v3/users/me/calendarList", { token: a.accessToken });
    assert.deepEqual(unauth.body, { error: { errors: [{ domain: "global", reason: "authError", message: "Invalid Credentials", locationType: "header", location: "Authorization" }], code: 401, message: "Invalid Credentials" } });

    await a.auth.revokeToken(a.refreshToken);
    const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: a.refreshToken, client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
    const res = await fetch(emu.tokenUrl, { method: "POST", body: form });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: "invalid_grant", error_description: "Token has been expired or revoked." });
    const current = (await a.auth.getAccessToken()).token!;
    assert.equal((await raw(emu, "GET", "calendar/v3/users/me/calendarList", { token: current })).status, 401, "access tokens of a revoked grant stop working");
    assert.equal((await failure(a.cal.calendarList.list())).data.error, "invalid_grant", "the library's refresh is refused");
    const b = api(emu);
    emu.revokeAll(ALICE);
    assert.equal((await failure(b.auth.refreshAccessToken())).data.error, "invalid_grant");
  });

  it("Testing-mode clients: refresh tokens die 7 days after issue (emulator clock)", async (t) => {
    const clock = new Clock();
    const emu = await setup({ now: clock.now });
    t.after(() => emu.close());
    emu.addClient({ clientId: "testing-app", clientSecret: "s", testing: true });
    const testing = emu.grant("testing-app", ALICE, [SCOPES.full]);
    const prod = emu.grant(CLIENT_ID, ALICE, [SCOPES.full]);
    const refresh = (clientId: string, secret: string, token: string) =>
      fetch(emu.tokenUrl, { method: "POST", body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: token, client_id: clientId, client_secret: secret }) });
    clock.advance(6 * 86_400_000);
    const ok = await refresh("testing-app", "s", testing.refresh_token);
    assert.equal(ok.status, 200);
    const body = await ok.json();
    assert.equal(body.refresh_token, undefined, "refresh does not rotate the refresh token");
    assert.equal(body.expires_in, 3599);
    clock.advance(86_400_000);
    assert.deepEqual(await (await refresh("testing-app", "s", testing.refresh_token)).json(), { error: "invalid_grant", error_description: "Token has been expired or revoked." });
    assert.equal((await refresh(CLIENT_ID, CLIENT_SECRET, prod.refresh_token)).status, 200);
    // Access tokens expire after expires_in by the same clock.
    clock.advance(3600_000);
    assert.equal((await raw(emu, "GET", "calendar/v3/users/me/calendarList", { token: prod.access_token })).status, 401);
  });

  it("scopes: read-only scopes read but cannot write; calendar.events cannot list calendars", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const ro = api(emu, [SCOPES.eventsReadonly]);
    await ro.cal.events.list({ calendarId: "primary" });
    const w = await failure(ro.cal.events.insert({ calendarId: "primary", requestBody: timed("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z") }));
    assert.equal(w.status, 403);
    assert.deepEqual(w.data.error.errors[0], { domain: "global", reason: "insufficientPermissions", message: "Request had insufficient authentication scopes." });
    assert.equal((await failure(api(emu, [SCOPES.events]).cal.calendarList.list())).status, 403);
    assert.equal((await api(emu, [SCOPES.readonly]).cal.calendarList.list()).status, 200);
  });
});

describe("events: resources, validation, conditional requests (§2, §5, §6)", () => {
  it("insert: client ids, iCalUID, etag, organizer, rendering in the calendar zone (sample shapes)", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    const ev = (await cal.events.insert({ calendarId: "primary", requestBody: { summary: "NY call", ...timed("2026-03-02T09:00:00", "2026-03-02T10:00:00", "America/New_York") } })).data;
    assert.match(ev.id!, /^[a-v0-9]{5,1024}$/);
    assert.equal(ev.iCalUID, `${ev.id}@google.com`);
    assert.match(ev.etag!, /^"\d+"$/);
    assert.deepEqual(ev.start, { dateTime: "2026-03-02T15:00:00+01:00", timeZone: "America/New_York" });
    assert.deepEqual(ev.organizer, { email: ALICE, self: true });
    const inNy = (await cal.events.get({ calendarId: ALICE, eventId: ev.id!, timeZone: "America/New_York" })).data;
    assert.equal(inNy.start!.dateTime, "2026-03-02T09:00:00-05:00");
    // Same fields (for the same features) as the recorded sample of a timed event.
    const s = sample("google-events-list-page1-nextPageToken.json").response.body.items[1];
    for (const k of ["kind", "etag", "id", "status", "htmlLink", "created", "updated", "summary", "creator", "organizer", "start", "end", "iCalUID", "sequence", "reminders", "eventType"]) {
      assert.ok(k in ev && k in s, k);
    }
    assert.match(ev.htmlLink!, /^https:\/\/www\.google\.com\/calendar\/event\?eid=/);
    assert.equal(Buffer.from(ev.htmlLink!.split("eid=")[1]!, "base64").toString(), `${ev.id} ${ALICE}`);

    const chosen = (await cal.events.insert({ calendarId: "primary", requestBody: { id: "abcdefuv0123", iCalUID: "5F1D0C3A-8B7E@apple", summary: "x", start: { date: "2026-08-01" }, end: { date: "2026-08-03" } } })).data;
    assert.equal(chosen.id, "abcdefuv0123");
    assert.equal(chosen.iCalUID, "5F1D0C3A-8B7E@apple");
    assert.deepEqual(chosen.start, { date: "2026-08-01" });
    // §11.5 a client-chosen duplicate id → 409 duplicate; illegal id → 400.
    const dup = await failure(cal.events.insert({ calendarId: "primary", requestBody: { id: "abcdefuv0123", summary: "y", start: { date: "2026-08-01" }, end: { date: "2026-08-02" } } }));
    assert.equal(dup.status, 409);
    assert.deepEqual(dup.data.error.errors[0], { domain: "global", reason: "duplicate", message: "The requested identifier already exists." });
    const illegal = await failure(cal.events.insert({ calendarId: "primary", requestBody: { id: "has-dash-and-xyz", start: { date: "2026-08-01" }, end: { date: "2026-08-02" } } }));
    assert.equal(illegal.status, 400);
  });

  it("validation: start/end, kinds, recurrence lines, time zone of series, reminders", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    const bad = async (body: object) => (await failure(cal.events.insert({ calendarId: "primary", requestBody: body }))).data.error;
    assert.equal((await bad({ start: { dateTime: "2026-03-02T09:00:00Z" } })).code, 400);
    assert.equal((await bad({ start: { date: "2026-03-02" }, end: { dateTime: "2026-03-03T09:00:00Z" } })).code, 400);
    const noTz = await bad({ ...timed("2026-03-02T09:00:00+01:00", "2026-03-02T10:00:00+01:00"), recurrence: ["RRULE:FREQ=DAILY"] });
    assert.equal(noTz.message, "Missing time zone definition for start time.");
    assert.equal((await bad({ ...timed("2026-03-02T09:00:00", "2026-03-02T10:00:00", ZRH), recurrence: ["DTSTART:20260302T080000Z", "RRULE:FREQ=DAILY"] })).errors[0].reason, "invalid");
    assert.equal((await bad({ ...timed("2026-03-02T09:00:00", "2026-03-02T10:00:00", ZRH), recurrence: ["RRULE:FREQ=DAILY;COUNT=2;UNTIL=20260310T000000Z"] })).code, 400);
    const six = Array.from({ length: 6 }, (_, i) => ({ method: "popup", minutes: i }));
    assert.equal((await bad({ ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), reminders: { useDefault: false, overrides: six } })).code, 400);
    assert.equal((await bad({ ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), reminders: { useDefault: false, overrides: [{ method: "popup", minutes: 40321 }] } })).code, 400);
    const empty = await bad(timed("2026-03-02T10:00:00Z", "2026-03-02T09:00:00Z"));
    assert.equal(empty.errors[0].reason, "timeRangeEmpty");
    // All-day recurring events need no time zone; EXDATE/RDATE lines with parameters are fine.
    await cal.events.insert({ calendarId: "primary", requestBody: { start: { date: "2026-03-02" }, end: { date: "2026-03-03" }, recurrence: ["RRULE:FREQ=WEEKLY", "EXDATE;VALUE=DATE:20260309", "RDATE;VALUE=DATE:20260311"] } });
  });

  it("§11.4 If-Match mismatch → 412 conditionNotMet; If-None-Match match → 304 with an empty body", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const a = api(emu);
    const ev = (await a.cal.events.insert({ calendarId: "primary", requestBody: { summary: "a", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") } })).data;
    const changed = (await a.cal.events.patch({ calendarId: "primary", eventId: ev.id!, requestBody: { summary: "b" } }, { headers: { "If-Match": ev.etag! } })).data;
    assert.notEqual(changed.etag, ev.etag, "etag changes on every modification");
    const stale = await failure(a.cal.events.patch({ calendarId: "primary", eventId: ev.id!, requestBody: { summary: "c" } }, { headers: { "If-Match": ev.etag! } }));
    assert.equal(stale.status, 412);
    assert.deepEqual(stale.data.error.errors[0], { domain: "global", reason: "conditionNotMet", message: "Precondition Failed", locationType: "header", location: "If-Match" });
    assert.equal((await failure(a.cal.events.delete({ calendarId: "primary", eventId: ev.id! }, { headers: { "If-Match": ev.etag! } }))).status, 412);
    const notModified = await a.cal.events.get({ calendarId: "primary", eventId: ev.id! }, { headers: { "If-None-Match": changed.etag! } });
    assert.equal(notModified.status, 304, "googleapis-common resolves on 304");
    const r = await raw(emu, "GET", `calendar/v3/calendars/primary/events/${ev.id}`, { token: (await a.auth.getAccessToken()).token!, headers: { "if-none-match": changed.etag! } });
    assert.equal(r.status, 304);
    assert.equal(r.text, "");
    assert.equal((await a.cal.events.get({ calendarId: "primary", eventId: ev.id! }, { headers: { "If-None-Match": ev.etag! } })).data.summary, "b");
  });

  it("§11.5 deleting twice → 410 deleted; get still returns the cancelled event", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    const ev = (await cal.events.insert({ calendarId: "primary", requestBody: timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") })).data;
    assert.equal((await cal.events.delete({ calendarId: "primary", eventId: ev.id! })).status, 204);
    const again = await failure(cal.events.delete({ calendarId: "primary", eventId: ev.id! }));
    assert.equal(again.status, 410);
    assert.deepEqual(again.data.error.errors[0], { domain: "global", reason: "deleted", message: "Resource has been deleted" });
    assert.equal((await cal.events.get({ calendarId: "primary", eventId: ev.id! })).data.status, "cancelled");
    assert.equal((await failure(cal.events.get({ calendarId: "primary", eventId: "nosuchevent0" }))).status, 404);
  });

  it("§11.7 patch replaces arrays wholesale, merges objects, null deletes; update resets omitted fields", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    const ev = (await cal.events.insert({ calendarId: "primary", requestBody: {
      summary: "s", description: "d", location: "l", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
      attendees: [{ email: "a@x.example" }, { email: "b@x.example" }],
      extendedProperties: { private: { k1: "v1", k2: "v2" } },
      reminders: { useDefault: false, overrides: [{ method: "popup", minutes: 10 }] },
    } })).data;
    const p = (await cal.events.patch({ calendarId: "primary", eventId: ev.id!, requestBody: {
      attendees: [{ email: "c@x.example" }], extendedProperties: { private: { k2: "new", k3: "v3" } }, location: null as never,
    } })).data;
    assert.deepEqual(p.attendees!.map((a) => a.email), ["c@x.example"]);
    assert.deepEqual(p.extendedProperties, { private: { k1: "v1", k2: "new", k3: "v3" } });
    assert.equal(p.location, undefined);
    assert.equal(p.description, "d");
    const u = (await cal.events.update({ calendarId: "primary", eventId: ev.id!, requestBody: { summary: "only", ...timed("2026-03-02T09:00:00Z", "2026-03-02T11:00:00Z") } })).data;
    assert.equal(u.description, undefined);
    assert.equal(u.attendees, undefined);
    assert.equal(u.extendedProperties, undefined);
    assert.deepEqual(u.reminders, { useDefault: true });
    assert.equal(u.iCalUID, ev.iCalUID);
    assert.equal(u.sequence, 1, "a time change bumps sequence");
    assert.equal((await failure(cal.events.update({ calendarId: "primary", eventId: ev.id!, requestBody: { summary: "no times" } }))).status, 400);
  });
});

describe("events.move and partial responses", () => {
  it("move: the event changes organizer calendar, the source keeps an id-only cancelled stub; instances cannot move", async (t) => {
    const emu = await setup({ raggedPages: false });
    t.after(() => emu.close());
    const { cal } = api(emu);
    const team = emu.addCalendar(ALICE, { summary: "Team" });
    const ev = (await cal.events.insert({ calendarId: "primary", requestBody: { summary: "m", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") } })).data;
    const token = (await cal.events.list({ calendarId: "primary" })).data.nextSyncToken!;
    const moved = (await cal.events.move({ calendarId: "primary", eventId: ev.id!, destination: team })).data;
    assert.equal(moved.id, ev.id);
    assert.equal(moved.iCalUID, ev.iCalUID);
    assert.deepEqual(moved.organizer, { email: team, displayName: "Team", self: true });
    const left = (await cal.events.list({ calendarId: "primary", syncToken: token })).data.items!;
    assert.deepEqual(left.map((e) => [e.id, e.status, Object.keys(e).sort().join()]), [[ev.id, "cancelled", "etag,id,kind,status"]]);
    assert.equal((await cal.events.get({ calendarId: team, eventId: ev.id! })).data.summary, "m");
    const series = emu.insertEvent(ALICE, { ...timed("2026-03-02T09:00:00", "2026-03-02T10:00:00", ZRH), recurrence: ["RRULE:FREQ=DAILY;COUNT=3"] });
    const inst = emu.instanceId(ALICE, series.id, "2026-03-03T09:00:00+01:00");
    assert.equal((await failure(cal.events.move({ calendarId: "primary", eventId: inst, destination: team }))).data.error.errors[0].reason, "cannotChangeOrganizerOfInstance");
  });

  it("fields= selects parts of a response", async (t) => {
    const emu = await setup({ raggedPages: false });
    t.after(() => emu.close());
    const { cal } = api(emu);
    emu.insertEvent(ALICE, { summary: "f", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") });
    const r = (await cal.events.list({ calendarId: "primary", fields: "items(id,start/dateTime),nextSyncToken" })).data;
    assert.deepEqual(Object.keys(r).sort(), ["items", "nextSyncToken"]);
    assert.deepEqual(Object.keys(r.items![0]!).sort(), ["id", "start"]);
    assert.deepEqual(Object.keys(r.items![0]!.start!), ["dateTime"]);
    assert.equal((await failure(cal.events.list({ calendarId: "primary", fields: "items(" }))).status, 400);
  });
});

describe("attendee copies, colours, long-unused refresh tokens", () => {
  it("403 forbiddenForNonOrganizer when an attendee copy changes guestsCan* (an update without them sets defaults)", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    const ev = emu.importEvent(ALICE, { iCalUID: "invite@other.example", organizer: { email: "carol@other.example" }, guestsCanModify: true, summary: "invite", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") });
    assert.deepEqual(ev.organizer, { email: "carol@other.example" });
    const forbidden = await failure(cal.events.patch({ calendarId: "primary", eventId: ev.id, requestBody: { guestsCanModify: false } }));
    assert.equal(forbidden.status, 403);
    assert.deepEqual(forbidden.data.error.errors[0], { domain: "calendar", reason: "forbiddenForNonOrganizer", message: "Shared properties can only be changed by the organizer of the event." });
    assert.equal((await failure(cal.events.update({ calendarId: "primary", eventId: ev.id, requestBody: { summary: "x", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") } }))).status, 403);
    assert.equal((await cal.events.patch({ calendarId: "primary", eventId: ev.id, requestBody: { summary: "mine" } })).data.summary, "mine");
    const colors = (await cal.colors.get()).data;
    assert.equal(colors.kind, "calendar#colors");
    assert.equal(colors.event!["11"]!.background, "#dc2127");
  });

  it("a refresh token unused for six months stops working", async (t) => {
    const clock = new Clock();
    const emu = await setup({ now: clock.now });
    t.after(() => emu.close());
    const used = emu.grant(CLIENT_ID, ALICE, [SCOPES.full]).refresh_token;
    const idle = emu.grant({ clientId: CLIENT_ID, email: ALICE }).refresh_token;
    const refresh = (token: string) => fetch(emu.tokenUrl, { method: "POST", body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: token, client_id: CLIENT_ID, client_secret: CLIENT_SECRET }) });
    for (let i = 0; i < 4; i++) {
      clock.advance(60 * 86_400_000);
      assert.equal((await refresh(used)).status, 200);
    }
    assert.equal((await (await refresh(idle)).json()).error, "invalid_grant");
    assert.equal(emu.tokenRequests(), 5);
  });
});

describe("fidelity to the recorded samples", () => {
  it("the sample's recurring master, written through the API, reads back as recorded (volatile fields aside)", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    const team = emu.addCalendar(ALICE, { id: "team.calendar@example.com", summary: "Team calendar", timeZone: ZRH });
    const recorded = sample("google-events-list-page1-nextPageToken.json").response.body.items[0];
    const { kind, etag, status, htmlLink, created, updated, creator, organizer, iCalUID, sequence, ...writable } = recorded;
    const attendees = writable.attendees.map(({ organizer: _o, self: _s, ...a }: any) => a);
    const ev = (await cal.events.insert({ calendarId: team, requestBody: { ...writable, attendees } })).data;
    const volatile = ["etag", "htmlLink", "created", "updated", "creator", "sequence"];
    const strip = (e: any) => Object.fromEntries(Object.entries(e).filter(([k]) => !volatile.includes(k)));
    assert.deepEqual(strip(ev), strip(recorded));
    assert.equal(ev.creator!.email, ALICE);
    const page = (await cal.events.list({ calendarId: team, maxResults: 2500 })).data;
    for (const k of ["kind", "summary", "description", "timeZone", "accessRole", "defaultReminders"]) assert.deepEqual((page as any)[k], sample("google-events-list-page1-nextPageToken.json").response.body[k], k);
  });
});

describe("further resource rules (§2)", () => {
  it("reminders-only edits keep `updated`; sequence may not go down; conferenceData needs conferenceDataVersion=1; eventType rules; maxAttendees", async (t) => {
    const emu = await setup();
    t.after(() => emu.close());
    const { cal } = api(emu);
    const ev = (await cal.events.insert({ calendarId: "primary", requestBody: { ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), attendees: [{ email: "a@x.example" }, { email: "b@x.example" }], conferenceData: { createRequest: { requestId: "r1", conferenceSolutionKey: { type: "hangoutsMeet" } } } } })).data;
    assert.equal(ev.conferenceData, undefined, "ignored without conferenceDataVersion=1");
    const r = (await cal.events.patch({ calendarId: "primary", eventId: ev.id!, requestBody: { reminders: { useDefault: false, overrides: [{ method: "email", minutes: 60 }] } } })).data;
    assert.equal(r.updated, ev.updated);
    assert.notEqual(r.etag, ev.etag);
    await cal.events.patch({ calendarId: "primary", eventId: ev.id!, requestBody: { sequence: 5 } });
    assert.equal((await failure(cal.events.patch({ calendarId: "primary", eventId: ev.id!, requestBody: { sequence: 4 } }))).status, 400);
    const meet = (await cal.events.patch({ calendarId: "primary", eventId: ev.id!, conferenceDataVersion: 1, requestBody: { conferenceData: { createRequest: { requestId: "r2", conferenceSolutionKey: { type: "hangoutsMeet" } } } } })).data;
    assert.match(meet.hangoutLink!, /^https:\/\/meet\.google\.com\//);
    assert.equal(meet.conferenceData!.createRequest!.status!.statusCode, "success");
    assert.equal((await failure(cal.events.patch({ calendarId: "primary", eventId: ev.id!, requestBody: { eventType: "focusTime" } }))).status, 400, "eventType is immutable");
    assert.equal((await failure(cal.events.insert({ calendarId: "primary", requestBody: { eventType: "fromGmail", ...timed("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z") } }))).status, 400);
    const few = (await cal.events.get({ calendarId: "primary", eventId: ev.id!, maxAttendees: 1 })).data;
    assert.deepEqual([few.attendees!.length, few.attendeesOmitted], [1, true]);
  });
});
