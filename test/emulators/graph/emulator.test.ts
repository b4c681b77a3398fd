/**
 * Graph emulator driven through the official libraries: MSAL Node (device code, silent refresh,
 * revocation) and the Graph SDK (calendars, event CRUD with If-Match, errors, Prefer headers).
 * Delta/recurrence: emulator-sync.test.ts; throttling/webhooks: emulator-push.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { InteractionRequiredAuthError, PublicClientApplication } from "@azure/msal-node";
import type { GraphEmulator } from "./index.ts";
import { ALICE, BOB, CLIENT_ID, SCOPES, api, failure, graphClient, msalApp, raw, sample, setup } from "./harness.ts";
import { CaNetworkClient } from "./msal-network.ts";

describe("Graph emulator: identity (MSAL Node)", () => {
  let emu: GraphEmulator;
  before(async () => {
    emu = await setup();
  });
  after(() => emu.close());

  test("OpenID configuration names endpoints on the emulator host", async () => {
    const r = await raw(emu, "GET", "common/v2.0/.well-known/openid-configuration");
    assert.equal(r.status, 200);
    for (const k of ["token_endpoint", "device_authorization_endpoint", "authorization_endpoint", "issuer"]) {
      assert.equal(new URL(r.body[k].replace("{tenantid}", "x")).host, emu.host, k);
    }
  });

  test("device code flow, then silent refresh, then revocation → InteractionRequiredAuthError", async () => {
    const { pca, net } = msalApp(emu);
    const seen: string[] = [];
    const result = await pca.acquireTokenByDeviceCode({
      scopes: SCOPES,
      deviceCodeCallback: (r) => {
        seen.push(r.userCode);
        assert.match(r.message, /enter the code/);
        assert.equal(emu.pendingDeviceCodes.some((c) => c.userCode === r.userCode && c.clientId === CLIENT_ID), true);
        emu.approveDeviceCode(r.userCode, ALICE);
      },
    });
    assert.ok(result);
    assert.equal(seen.length, 1);
    assert.equal(result.account?.username, ALICE);
    const ids = emu.accountIds(ALICE);
    assert.equal(result.account?.homeAccountId, `${ids.oid}.${ids.tid}`);
    assert.equal(result.tenantId, ids.tid);
    // Every MSAL request stayed on the emulator (no public-cloud instance discovery).
    assert.ok(net.calls.length > 0);
    for (const c of net.calls) assert.equal(new URL(c.url).host, emu.host, c.url);

    // The token works against Graph through the SDK.
    const client = graphClient(emu, () => result.accessToken);
    const cals = await client.api("/me/calendars").get();
    assert.equal(cals.value[0].name, "Calendar");

    // Silent refresh with forceRefresh uses the cached refresh token (a new one each time).
    const before = emu.tokenRequests();
    const again = await pca.acquireTokenSilent({ account: result.account!, scopes: SCOPES, forceRefresh: true });
    assert.notEqual(again.accessToken, result.accessToken);
    assert.equal(emu.tokenRequests(), before + 1);

    emu.revokeAll(ALICE);
    const e = await failure(pca.acquireTokenSilent({ account: result.account!, scopes: SCOPES, forceRefresh: true }));
    assert.ok(e instanceof InteractionRequiredAuthError, String(e));
    assert.equal(e.errorCode, "invalid_grant");
    assert.match(e.errorMessage, /AADSTS50173/);
    // The access tokens died with the grant.
    const g = await failure(client.api("/me/calendars").get());
    assert.equal(g.statusCode, 401);
    assert.equal(g.code, "InvalidAuthenticationToken");
  });

  test("authorityMetadata + cloudDiscoveryMetadata instead of knownAuthorities: no discovery requests", async () => {
    const net = new CaNetworkClient(emu.caCert);
    const pca = new PublicClientApplication({
      auth: {
        clientId: CLIENT_ID, authority: emu.authority + "organizations",
        authorityMetadata: emu.authorityMetadata("organizations"), cloudDiscoveryMetadata: emu.cloudDiscoveryMetadata("organizations"),
      },
      system: { networkClient: net },
    });
    const r = await pca.acquireTokenByDeviceCode({ scopes: SCOPES, deviceCodeCallback: (d) => emu.approveDeviceCode(d.userCode, BOB) });
    assert.equal(r?.account?.username, BOB);
    assert.deepEqual(net.calls.map((c) => new URL(c.url).pathname), ["/organizations/oauth2/v2.0/devicecode", "/organizations/oauth2/v2.0/token"]);
  });

  test("MSAL: a declined sign-in rejects; a refresh token from grant() is redeemable", async () => {
    const { pca } = msalApp(emu);
    const e = await failure(pca.acquireTokenByDeviceCode({ scopes: SCOPES, deviceCodeCallback: (d) => emu.declineDeviceCode(d.userCode) }));
    assert.match(String(e.errorMessage ?? e.message), /authorization_declined/);
    const g = emu.grant(CLIENT_ID, BOB);
    const r = await pca.acquireTokenByRefreshToken({ refreshToken: g.refresh_token, scopes: SCOPES });
    assert.equal(r?.account?.username, BOB);
    assert.ok(r?.accessToken);
  });

  test("device code: pending, declined, expired, bad code; both grant type spellings", async () => {
    const dc = await raw(emu, "POST", "organizations/oauth2/v2.0/devicecode", { form: { client_id: CLIENT_ID, scope: "Calendars.ReadWrite offline_access" } });
    assert.equal(dc.status, 200);
    assert.equal(typeof dc.body.interval, "number");
    assert.equal(dc.body.expires_in, 900);
    const poll = (grant: string, code = dc.body.device_code) =>
      raw(emu, "POST", "organizations/oauth2/v2.0/token", { form: { client_id: CLIENT_ID, grant_type: grant, device_code: code } });
    const pending = await poll("urn:ietf:params:oauth:grant-type:device_code");
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, "authorization_pending");
    assert.equal((await poll("device_code", "nonsense")).body.error, "bad_verification_code");
    emu.approveDeviceCode(dc.body.user_code, BOB);
    const ok = await poll("device_code");
    assert.equal(ok.status, 200);
    assert.ok(ok.body.refresh_token && ok.body.access_token && ok.body.id_token && ok.body.client_info);
    const claims = JSON.parse(Buffer.from(ok.body.id_token.split(".")[1], "base64url").toString());
    assert.equal(claims.preferred_username, BOB);
    assert.equal(claims.aud, CLIENT_ID);
    for (const k of ["tid", "oid", "iss", "exp", "iat"]) assert.ok(claims[k] !== undefined, k);
    const ci = JSON.parse(Buffer.from(ok.body.client_info, "base64url").toString());
    assert.deepEqual(ci, { uid: claims.oid, utid: claims.tid });

    const dc2 = await raw(emu, "POST", "common/oauth2/v2.0/devicecode", { form: { client_id: CLIENT_ID, scope: "Calendars.Read" } });
    emu.declineDeviceCode(dc2.body.user_code);
    assert.equal((await poll("device_code", dc2.body.device_code)).body.error, "authorization_declined");

    // Refresh: a new refresh token each use; the old one keeps working (reference §9).
    const r1 = await raw(emu, "POST", "common/oauth2/v2.0/token", { form: { client_id: CLIENT_ID, grant_type: "refresh_token", refresh_token: ok.body.refresh_token } });
    assert.equal(r1.status, 200);
    assert.notEqual(r1.body.refresh_token, ok.body.refresh_token);
    const unknownClient = await raw(emu, "POST", "common/oauth2/v2.0/devicecode", { form: { client_id: "nope", scope: "x" } });
    assert.equal(unknownClient.body.error, "unauthorized_client");
  });

  test("expired device codes answer expired_token", async () => {
    let t = Date.parse("2026-03-01T08:00:00Z");
    const e2 = await setup({ now: () => t });
    try {
      const dc = await raw(e2, "POST", "consumers/oauth2/v2.0/devicecode", { form: { client_id: CLIENT_ID, scope: "Calendars.ReadWrite" } });
      t += 901_000;
      const r = await raw(e2, "POST", "consumers/oauth2/v2.0/token", { form: { client_id: CLIENT_ID, grant_type: "device_code", device_code: dc.body.device_code } });
      assert.equal(r.body.error, "expired_token");
      assert.deepEqual(e2.pendingDeviceCodes, []);
    } finally {
      await e2.close();
    }
  });
});

describe("Graph emulator: calendars and events (Graph SDK)", () => {
  let emu: GraphEmulator;
  before(async () => {
    emu = await setup({ pageSize: 2 });
  });
  after(() => emu.close());

  test("no or expired token → 401 InvalidAuthenticationToken", async () => {
    const r = await raw(emu, "GET", "v1.0/me/calendars");
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, "InvalidAuthenticationToken");
    assert.ok(r.body.error.innerError["request-id"]);
    const { client } = api(emu);
    emu.expireAccessTokens();
    const e = await failure(client.api("/me/calendars").get());
    assert.equal(e.statusCode, 401);
  });

  test("calendars: paged, default first, canEdit/color/hexColor/owner", async () => {
    const id = emu.addCalendar(ALICE, { name: "Shared team", color: "lightGreen", canEdit: false, owner: "dana@contoso.example" });
    emu.addCalendar(ALICE, { name: "Birthdays", color: "lightPink" });
    const { client } = api(emu);
    const p1 = await client.api("/me/calendars").get();
    assert.equal(p1.value.length, 2);
    assert.match(p1["@odata.nextLink"], new RegExp(`^https://${emu.host}/v1.0/`));
    const p2 = await client.api(p1["@odata.nextLink"]).get();
    assert.equal(p2["@odata.nextLink"], undefined);
    const all = [...p1.value, ...p2.value];
    assert.equal(all[0].isDefaultCalendar, true);
    const shared = all.find((c: any) => c.id === id);
    assert.equal(shared.canEdit, false);
    assert.equal(shared.color, "lightGreen");
    assert.match(shared.hexColor, /^#[0-9a-f]{6}$/);
    assert.equal(shared.owner.address, "dana@contoso.example");
    // Writes to a read-only calendar are refused.
    const e = await failure(client.api(`/me/calendars/${id}/events`).post({ subject: "x", start: { dateTime: "2026-03-02T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-03-02T11:00:00", timeZone: "UTC" } }));
    assert.equal(e.statusCode, 403);
    const bad = await failure(client.api("/me/calendars/garbage!").get());
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.code, "ErrorInvalidIdMalformed");
  });

  test("create (201, transactionId idempotent), get in a Prefer zone, PATCH with If-Match, 412, DELETE, 404", async () => {
    const { client } = api(emu);
    const calId = emu.defaultCalendarId(ALICE);
    const body = {
      subject: "Quarterly review", body: { contentType: "html", content: "<html><body><p>Slides &amp; notes</p></body></html>" },
      start: { dateTime: "2026-03-20T14:00:00", timeZone: "W. Europe Standard Time" }, end: { dateTime: "2026-03-20T15:00:00", timeZone: "W. Europe Standard Time" },
      attendees: [{ type: "required", emailAddress: { name: "Erik", address: "erik@contoso.example" } }], transactionId: "tx-1",
    };
    const created = await client.api(`/me/calendars/${calId}/events`).post(body);
    assert.equal(created.type, "singleInstance");
    assert.deepEqual(created.start, { dateTime: "2026-03-20T13:00:00.0000000", timeZone: "UTC" });
    assert.equal(created.originalStartTimeZone, "W. Europe Standard Time");
    assert.match(created.createdDateTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
    assert.equal(created["@odata.etag"], `W/"${created.changeKey}"`);
    assert.equal(created.uid, created.iCalUId);
    const retried = await client.api(`/me/calendars/${calId}/events`).post(body);
    assert.equal(retried.id, created.id);
    assert.equal(emu.events(ALICE, calId).filter((e) => e.subject === "Quarterly review").length, 1);
    // Same property set as the recorded sample (minus ones this event does not have).
    const s = sample("graph-calendarview-delta-page-nextLink.json").response.body.value[0];
    for (const k of Object.keys(s)) if (k !== "@odata.type") assert.ok(k in created, `missing ${k}`);

    const got = await client.api(`/me/events/${created.id}`).header("Prefer", 'outlook.timezone="Pacific Standard Time", outlook.body-content-type="text"').get();
    assert.deepEqual(got.start, { dateTime: "2026-03-20T06:00:00.0000000", timeZone: "Pacific Standard Time" });
    assert.deepEqual(got.body, { contentType: "text", content: "Slides & notes" });
    const iana = await raw(emu, "GET", `v1.0/me/events/${created.id}`, { token: api(emu).token, headers: { prefer: 'outlook.timezone="Asia/Tokyo"' } });
    assert.equal(iana.headers.get("preference-applied"), 'outlook.timezone="Asia/Tokyo"');
    assert.equal(iana.body.start.dateTime, "2026-03-20T22:00:00.0000000");
    const tz = await failure(client.api(`/me/events/${created.id}`).header("Prefer", 'outlook.timezone="Mars/Olympus"').get());
    assert.equal(tz.statusCode, 400);
    assert.equal(tz.code, "TimeZoneNotSupportedException");

    const patched = await client.api(`/me/events/${created.id}`).header("If-Match", created["@odata.etag"]).patch({ subject: "Quarterly review (moved)" });
    assert.notEqual(patched.changeKey, created.changeKey);
    assert.notEqual(patched["@odata.etag"], created["@odata.etag"]);
    const stale = await failure(client.api(`/me/events/${created.id}`).header("If-Match", created["@odata.etag"]).patch({ subject: "lost" }));
    const s412 = sample("graph-error-412-stale-etag.json").response;
    assert.equal(stale.statusCode, s412.status);
    assert.equal(stale.code, s412.body.error.code);
    assert.equal(stale.message, s412.body.error.message);
    assert.ok(stale.requestId);

    await client.api(`/me/events/${created.id}`).delete();
    const gone = await failure(client.api(`/me/events/${created.id}`).get());
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.code, "ErrorItemNotFound");
    const malformed = await failure(client.api("/me/events/not-an-id").get());
    assert.equal(malformed.code, "ErrorInvalidIdMalformed");
  });

  test("all-day events are midnight-to-midnight in any zone; validation errors", async () => {
    const { client } = api(emu);
    const ev = await client.api("/me/events").post({
      subject: "Team lunch", isAllDay: true,
      start: { dateTime: "2026-01-24T00:00:00", timeZone: "W. Europe Standard Time" }, end: { dateTime: "2026-01-25T00:00:00", timeZone: "W. Europe Standard Time" },
    });
    assert.deepEqual(ev.start, { dateTime: "2026-01-24T00:00:00.0000000", timeZone: "UTC" });
    assert.deepEqual(ev.end, { dateTime: "2026-01-25T00:00:00.0000000", timeZone: "UTC" });
    const tokyo = await client.api(`/me/events/${ev.id}`).header("Prefer", 'outlook.timezone="Tokyo Standard Time"').get();
    assert.equal(tokyo.start.dateTime, "2026-01-24T00:00:00.0000000");
    const notMidnight = await failure(client.api("/me/events").post({
      isAllDay: true, start: { dateTime: "2026-01-24T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-01-25T00:00:00", timeZone: "UTC" },
    }));
    assert.equal(notMidnight.statusCode, 400);
    const badZone = await failure(client.api("/me/events").post({
      start: { dateTime: "2026-01-24T10:00:00", timeZone: "Narnia Time" }, end: { dateTime: "2026-01-24T11:00:00", timeZone: "Narnia Time" },
    }));
    assert.equal(badZone.code, "TimeZoneNotSupportedException");
    const badProp = await failure(client.api("/me/events").post({ subject: "x", colour: "red", start: { dateTime: "2026-01-24T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-01-24T11:00:00", timeZone: "UTC" } }));
    assert.equal(badProp.statusCode, 400);
  });

  test("a Calendars.Read token reads but cannot write (403 ErrorAccessDenied)", async () => {
    const t = emu.grant(CLIENT_ID, BOB, ["Calendars.Read"]);
    const client = graphClient(emu, () => t.access_token);
    assert.equal((await client.api("/me/calendars").get()).value.length, 1);
    const e = await failure(client.api("/me/events").post({ subject: "x", start: { dateTime: "2026-01-24T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-01-24T11:00:00", timeZone: "UTC" } }));
    assert.equal(e.statusCode, 403);
    assert.equal(e.code, "ErrorAccessDenied");
  });

  test("/me, /me/mailboxSettings (needs MailboxSettings.Read); ids of another mailbox are malformed here", async () => {
    const t = emu.grant(CLIENT_ID, ALICE, ["Calendars.ReadWrite", "User.Read", "MailboxSettings.Read"]);
    const client = graphClient(emu, () => t.access_token);
    const me = await client.api("/me").get();
    assert.equal(me.userPrincipalName, ALICE);
    assert.equal(me.id, emu.accountIds(ALICE).oid);
    assert.equal((await client.api("/me/mailboxSettings/timeZone").get()).value, "W. Europe Standard Time");
    assert.equal((await client.api("/me/mailboxSettings").get()).workingHours.timeZone.name, "W. Europe Standard Time");
    const noScope = await failure(api(emu).client.api("/me/mailboxSettings").get());
    assert.equal(noScope.statusCode, 403);
    const bobEvent = emu.createEvent(BOB, emu.defaultCalendarId(BOB), { subject: "Bob's", start: { dateTime: "2026-01-24T10:00:00", timeZone: "UTC" }, end: { dateTime: "2026-01-24T11:00:00", timeZone: "UTC" } });
    assert.notEqual(bobEvent.id.slice(0, 8), emu.defaultCalendarId(ALICE).slice(0, 8));
    const e = await failure(client.api(`/me/events/${bobEvent.id}`).get());
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, "ErrorInvalidIdMalformed");
  });

  test("/users/{upn} is /me for the signed-in user only", async () => {
    const { client } = api(emu, BOB);
    const mine = await client.api(`/users/${BOB}/calendars`).get();
    assert.equal(mine.value.length, 1);
    const other = await failure(client.api(`/users/${ALICE}/calendars`).get());
    assert.equal(other.statusCode, 403);
  });
});
