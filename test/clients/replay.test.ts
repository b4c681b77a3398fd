/**
 * Client request replay: Apple Calendar, Thunderbird and DAVx5 as recorded in
 * test/fixtures/corpus/client-requests (order of index.md), against a freshly started calgate
 * (CLIENT_TEST_TARGET=radicale runs it against Radicale instead, to validate the harness).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startTarget, type DavTarget } from "../helpers/target.ts";
import { child, elements, text } from "../../src/xml/tree.ts";
import {
  ClientSession, loadBody, fill, parseMultistatus, okProp, hrefProp, hasResourceType, describeMs, expectStatus, normPath, sampleObjects, unfold, xmlEscape,
  d, c, cs, type ClientName, type Multistatus, type Reply,
} from "./replay.ts";

let target: DavTarget;
before(async () => {
  target = await startTarget();
});
after(async () => {
  await target?.stop();
});

const rand = (): string => randomBytes(4).toString("hex");

/** The client's own form of an href element, per corpus body. */
const HREF_FORM: Record<ClientName, (p: string) => string> = {
  "apple-calendar": (p) => `<A:href xmlns:A="DAV:">${xmlEscape(p)}</A:href>`,
  thunderbird: (p) => `<D:href>${xmlEscape(p)}</D:href>`,
  davx5: (p) => `<href>${xmlEscape(p)}</href>`,
};

interface Member {
  path: string;
  rawHref: string;
  etag: string;
}

/** Members (non-collection responses) of a sync-collection answer. */
function syncMembers(ms: Multistatus, collectionPath: string): { changed: Map<string, Member>; removed: Set<string> } {
  const changed = new Map<string, Member>();
  const removed = new Set<string>();
  for (const r of ms.responses) {
    if (r.path === normPath(collectionPath)) continue;
    if (r.status === 404) {
      removed.add(r.path);
      continue;
    }
    const et = okProp(r, d("getetag"));
    assert.ok(et, `sync-collection member ${r.rawHref} has no getetag (status ${r.status ?? "-"})\n${describeMs(ms)}`);
    changed.set(r.path, { path: r.path, rawHref: r.rawHref, etag: text(et).trim() });
  }
  return { changed, removed };
}

async function put(s: ClientSession, url: string, body: string, headers: Record<string, string>): Promise<Reply> {
  return s.request("PUT", url, { body, contentType: "text/calendar; charset=utf-8", headers });
}

/** ETag of one object: from a Depth 0 PROPFIND (what clients do when PUT gave none). */
async function etagOf(s: ClientSession, url: string): Promise<string> {
  const r = await s.request("PROPFIND", url, { depth: "0", body: `<?xml version="1.0" encoding="UTF-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>` });
  expectStatus(r, 207, "PROPFIND getetag of a member");
  const et = okProp(parseMultistatus(r).responses[0], d("getetag"));
  assert.ok(et, `no getetag for ${url}\n${r.body}`);
  return text(et).trim();
}

/** PUT the sample objects with If-None-Match: * (as Thunderbird, DAVx5 and Apple do for new items). */
async function seed(s: ClientSession, calUrl: string, tag: string, opts: { withTodo: boolean }): Promise<Map<string, { url: string; body: string; etag: string }>> {
  const out = new Map<string, { url: string; body: string; etag: string }>();
  for (const o of sampleObjects(tag)) {
    if (!opts.withTodo && o.body.includes("BEGIN:VTODO")) continue;
    const url = new URL(o.name, calUrl).toString();
    const r = await put(s, url, o.body, { "if-none-match": "*" });
    expectStatus(r, 201, `create ${o.name} with If-None-Match: *`);
    const etag = r.headers.get("etag") ?? (await etagOf(s, url));
    out.set(normPath(url), { url, body: o.body, etag });
  }
  return out;
}

/** Modify one object (If-Match) and delete another (If-Match); returns their paths and the new ETag. */
async function modifyAndDelete(s: ClientSession, objs: Map<string, { url: string; body: string; etag: string }>, modPath: string, delPath: string): Promise<string> {
  const mod = objs.get(modPath)!;
  const newBody = mod.body.replace(/SUMMARY:([^\r\n]*)/, "SUMMARY:$1 (edited)");
  const r = await put(s, mod.url, newBody, { "if-match": mod.etag });
  expectStatus(r, [200, 201, 204], "modify with If-Match");
  const newEtag = r.headers.get("etag") ?? (await etagOf(s, mod.url));
  assert.notEqual(newEtag, mod.etag, "ETag did not change after a modification");
  const del = objs.get(delPath)!;
  const dr = await s.request("DELETE", del.url, { headers: { "if-match": del.etag } });
  expectStatus(dr, [200, 204], "DELETE with If-Match");
  return newEtag;
}

function assertDelta(ms: Multistatus, calPath: string, changedPath: string, newEtag: string, oldEtag: string, deletedPath: string, untouched: string[]): void {
  const { changed, removed } = syncMembers(ms, calPath);
  const dump = describeMs(ms);
  assert.ok(ms.syncToken, `incremental sync-collection answer has no sync-token\n${dump}`);
  assert.ok(changed.has(changedPath), `changed member ${changedPath} missing from the delta\n${dump}`);
  assert.equal(changed.get(changedPath)!.etag, newEtag, `delta reports a stale ETag for ${changedPath}`);
  assert.notEqual(changed.get(changedPath)!.etag, oldEtag);
  assert.ok(removed.has(deletedPath), `deleted member ${deletedPath} is not reported with status 404 in the delta\n${dump}`);
  assert.ok(!changed.has(deletedPath), `deleted member ${deletedPath} reported as changed`);
  for (const u of untouched) assert.ok(!changed.has(u) && !removed.has(u), `unchanged member ${u} reported in the delta\n${dump}`);
}

function assertMultiget(ms: Multistatus, expected: Map<string, { etag: string; uid: string }>): void {
  for (const [path, exp] of expected) {
    const r = ms.byPath(path);
    assert.ok(r, `calendar-multiget has no response for ${path}\n${describeMs(ms)}`);
    const et = okProp(r, d("getetag"));
    const cd = okProp(r, c("calendar-data"));
    assert.ok(et && cd, `calendar-multiget lacks getetag/calendar-data for ${path}\n${describeMs(ms)}`);
    assert.equal(text(et).trim(), exp.etag, `multiget ETag for ${path} differs from the sync-collection ETag`);
    const data = unfold(text(cd));
    assert.match(data, /^BEGIN:VCALENDAR$/m);
    assert.ok(data.includes(`UID:${exp.uid}`), `calendar-data for ${path} lacks UID:${exp.uid}\n${data}`);
  }
}

const uidOf = (body: string): string => /^UID:(.*)$/m.exec(unfold(body))![1]!.trim();

// =============================================================================================

describe("Apple Calendar (OS X 10.11 simulator sequence)", () => {
  const client: ClientName = "apple-calendar";
  let s: ClientSession;
  let principal = "";
  let home = "";
  let homeToken: string | undefined;
  let scratch = "";
  const scratchName = `replay-apple-${rand()}`;
  let objs = new Map<string, { url: string; body: string; etag: string }>();
  let token = "";
  let ctagBefore = "";

  const homePropfind = async (): Promise<Multistatus> => {
    const r = await s.request("PROPFIND", home, { depth: "1", body: loadBody(client, "03-home-propfind.xml") });
    expectStatus(r, 207, "03 home PROPFIND");
    return parseMultistatus(r);
  };
  const calendarsIn = (ms: Multistatus): string[] => ms.responses.filter((r) => r.path !== normPath(home) && hasResourceType(r, c("calendar"))).map((r) => r.path);

  before(() => {
    const u = target.users[0]!;
    s = new ClientSession(client, target.baseUrl, u.username, u.password);
  });

  test("01 PROPFIND /.well-known/caldav follows the redirect and finds the principal", async () => {
    const r = await s.request("PROPFIND", "/.well-known/caldav", { depth: "0", body: loadBody(client, "01-well-known-propfind.xml") });
    assert.ok(r.redirects.length >= 1, `expected a redirect from /.well-known/caldav\n${s.recent()}`);
    assert.ok([301, 302, 307, 308].includes(r.redirects[0]![0]));
    expectStatus(r, 207, "01 well-known PROPFIND (after redirects)");
    const ms = parseMultistatus(r);
    const first = ms.responses[0];
    principal = hrefProp(first, d("current-user-principal")) ?? hrefProp(first, d("principal-URL")) ?? "";
    assert.ok(principal, `no current-user-principal or principal-URL\n${r.body}`);
    principal = new URL(principal, r.url).toString();
  });

  test("02 principal PROPFIND gives calendar-home-set", async () => {
    const r = await s.request("PROPFIND", principal, { depth: "0", body: loadBody(client, "02-principal-propfind.xml") });
    expectStatus(r, 207, "02 principal PROPFIND");
    const ms = parseMultistatus(r);
    const h = hrefProp(ms.responses[0], c("calendar-home-set"));
    assert.ok(h, `no calendar-home-set\n${r.body}`);
    home = new URL(h, r.url).toString();
    assert.equal(normPath(home), normPath(target.homeUrl(target.users[0]!)));
  });

  test("03 Depth 1 home PROPFIND lists calendars by resourcetype", async () => {
    const ms = await homePropfind();
    const homeResp = ms.byPath(home);
    assert.ok(homeResp, `home itself missing from Depth 1 answer\n${describeMs(ms)}`);
    homeToken = okProp(homeResp, d("sync-token")) ? text(okProp(homeResp, d("sync-token"))!).trim() : undefined;
    const cals = calendarsIn(ms);
    assert.ok(cals.includes(normPath(target.defaultCalendarUrl(target.users[0]!))), `default calendar not in home listing: ${cals.join(", ")}\n${describeMs(ms)}`);
  });

  test("10 MKCALENDAR creates the scratch calendar, which then appears in the home PROPFIND", async () => {
    scratch = new URL(`${scratchName}/`, home).toString();
    const r = await s.request("MKCALENDAR", scratch, { body: fill(loadBody(client, "10-mkcalendar.xml"), { displayname: "Replay Apple" }) });
    expectStatus(r, 201, "10 MKCALENDAR");
    const ms = await homePropfind();
    const entry = ms.byPath(scratch);
    assert.ok(entry && hasResourceType(entry, c("calendar")), `scratch calendar not listed as a calendar\n${describeMs(ms)}`);
    const dn = okProp(entry, d("displayname"));
    assert.equal(dn && text(dn), "Replay Apple");
  });

  test("07 calendar poll PROPFIND has getctag or sync-token", async () => {
    const r = await s.request("PROPFIND", scratch, { depth: "0", body: loadBody(client, "07-calendar-poll-propfind.xml") });
    expectStatus(r, 207, "07 poll PROPFIND");
    const e = parseMultistatus(r).responses[0]!;
    const v = okProp(e, cs("getctag")) ?? okProp(e, d("sync-token"));
    assert.ok(v, `neither getctag nor sync-token\n${r.body}`);
    ctagBefore = text(v).trim();
  });

  test("04 sync-collection (no sync-level, empty token) lists the events; 05 multiget fetches them", async () => {
    objs = await seed(s, scratch, "apple", { withTodo: false });
    const r = await s.request("REPORT", scratch, { depth: "1", body: fill(loadBody(client, "04-calendar-sync.xml"), { "sync-token": "" }) });
    expectStatus(r, 207, "04 initial sync-collection without <sync-level> (Apple's pre-RFC 6578 form)");
    const ms = parseMultistatus(r);
    assert.ok(ms.syncToken, `no sync-token\n${r.body}`);
    token = ms.syncToken!;
    const { changed, removed } = syncMembers(ms, scratch);
    assert.equal(removed.size, 0);
    assert.deepEqual([...changed.keys()].sort(), [...objs.keys()].sort(), describeMs(ms));
    for (const [p, m] of changed) assert.equal(m.etag, objs.get(p)!.etag, `sync ETag for ${p} differs from the PUT ETag`);
    const mg = await s.request("REPORT", scratch, { body: fill(loadBody(client, "05-calendar-multiget.xml"), { hrefs: [...changed.values()].map((m) => HREF_FORM[client](m.rawHref)).join("\n") }) });
    expectStatus(mg, 207, "05 calendar-multiget");
    assertMultiget(parseMultistatus(mg), new Map([...changed].map(([p, m]) => [p, { etag: m.etag, uid: uidOf(objs.get(p)!.body) }])));
  });

  test("04 again with the saved token reports exactly the change and the deletion; 07 ctag moved", async () => {
    const paths = [...objs.keys()];
    const [modPath, delPath] = [paths[1]!, paths[0]!];
    const oldEtag = objs.get(modPath)!.etag;
    const newEtag = await modifyAndDelete(s, objs, modPath, delPath);
    const r = await s.request("REPORT", scratch, { depth: "1", body: fill(loadBody(client, "04-calendar-sync.xml"), { "sync-token": xmlEscape(token) }) });
    expectStatus(r, 207, "04 incremental sync-collection");
    const ms = parseMultistatus(r);
    assertDelta(ms, scratch, modPath, newEtag, oldEtag, delPath, paths.slice(2));
    assert.notEqual(ms.syncToken, token, "sync-token did not change after modifications");
    const mg = await s.request("REPORT", scratch, { body: fill(loadBody(client, "05-calendar-multiget.xml"), { hrefs: HREF_FORM[client](ms.byPath(modPath)!.rawHref) }) });
    expectStatus(mg, 207, "05 multiget of the changed member");
    const mgms = parseMultistatus(mg);
    assertMultiget(mgms, new Map([[modPath, { etag: newEtag, uid: uidOf(objs.get(modPath)!.body) }]]));
    assert.match(text(okProp(mgms.byPath(modPath), c("calendar-data"))!), /\(edited\)/);
    const p = await s.request("PROPFIND", scratch, { depth: "0", body: loadBody(client, "07-calendar-poll-propfind.xml") });
    const e = parseMultistatus(p).responses[0]!;
    const v = okProp(e, cs("getctag")) ?? okProp(e, d("sync-token"));
    assert.ok(v);
    assert.notEqual(text(v).trim(), ctagBefore, "getctag/sync-token of the calendar did not change after writes");
  });

  test("06 home sync-collection answers 207 (new calendar listed) or 403 (client falls back to 03)", async (t) => {
    const r = await s.request("REPORT", home, { depth: "1", body: fill(loadBody(client, "06-home-sync.xml"), { "sync-token": xmlEscape(homeToken ?? "") }) });
    t.diagnostic(`home sync-collection → ${r.status}${homeToken ? "" : " (home had no sync-token in 03; sent an empty token)"}`);
    if (r.status === 207) {
      const ms = parseMultistatus(r);
      assert.ok(ms.syncToken, `home sync-collection without sync-token\n${r.body}`);
      assert.ok(ms.byPath(scratch), `calendar created after the home token is not in the home sync delta\n${describeMs(ms)}`);
    } else {
      assert.equal(r.status, 403, `06 home sync-collection must answer 207 or 403, got ${r.status}\n${r.body}`);
      const ms = await homePropfind(); // the fallback
      assert.ok(ms.byPath(scratch));
    }
  });

  test("08 expand-property on the principal (optional) does not fail the server", async () => {
    const r = await s.request("REPORT", principal, { body: loadBody(client, "08-principal-expand.xml") });
    assert.ok(r.status < 500, `08 expand-property → ${r.status}\n${r.body}`);
    if (r.status === 207) parseMultistatus(r);
  });
});

// =============================================================================================

describe("Thunderbird (CalDavProvider / CalDavCalendar)", () => {
  const client: ClientName = "thunderbird";
  let s: ClientSession;
  let principal = "";
  let home = "";
  let cal = "";
  let objs = new Map<string, { url: string; body: string; etag: string }>();
  let token = "";
  const syncBody = (tok: string): string => fill(loadBody(client, "07-calendar-sync.xml"), { "sync-token-element": tok === "" ? "<sync-token/>" : `<sync-token>${xmlEscape(tok)}</sync-token>` });

  before(() => {
    const u = target.users[0]!;
    s = new ClientSession(client, target.baseUrl, u.username, u.password);
  });

  test("01 detect: base URL is '/', so PROPFIND /.well-known/caldav (redirects followed, same Depth)", async () => {
    const r = await s.request("PROPFIND", "/.well-known/caldav", { depth: "0", body: loadBody(client, "01-detect-propfind.xml") });
    expectStatus(r, 207, "01 detect PROPFIND");
    const e = parseMultistatus(r).responses[0];
    const isCal = e !== undefined && hasResourceType(e, c("calendar"));
    const homeSet = hrefProp(e, c("calendar-home-set"));
    const cup = hrefProp(e, d("current-user-principal")) ?? hrefProp(e, d("owner"));
    assert.ok(isCal || homeSet || cup, `nothing Thunderbird can use in the detect answer\n${r.body}`);
    assert.ok(cup, `expected current-user-principal at the DAV root\n${r.body}`);
    principal = new URL(cup, r.url).toString();
  });

  test("02 principal PROPFIND → calendar-home-set; 06 scheduling PROPFIND answers", async () => {
    const r = await s.request("PROPFIND", principal, { depth: "0", body: loadBody(client, "02-principal-propfind.xml") });
    expectStatus(r, 207, "02 principal PROPFIND");
    const h = hrefProp(parseMultistatus(r).responses[0], c("calendar-home-set"));
    assert.ok(h, r.body);
    home = new URL(h, r.url).toString();
    const r6 = await s.request("PROPFIND", principal, { depth: "0", body: loadBody(client, "06-principal-scheduling-propfind.xml") });
    expectStatus(r6, 207, "06 principal scheduling PROPFIND");
    parseMultistatus(r6);
  });

  test("03 home Depth 1 lists the calendar, writable (current-user-privilege-set)", async () => {
    const r = await s.request("PROPFIND", home, { depth: "1", body: loadBody(client, "03-home-propfind.xml") });
    expectStatus(r, 207, "03 home PROPFIND");
    const ms = parseMultistatus(r);
    const want = normPath(target.defaultCalendarUrl(target.users[0]!));
    const e = ms.responses.find((x) => x.path === want);
    assert.ok(e && hasResourceType(e, c("calendar")), `default calendar missing\n${describeMs(ms)}`);
    cal = new URL(e.rawHref, r.url).toString();
    const cups = okProp(e, d("current-user-privilege-set"));
    if (cups) {
      const privs = elements(cups, d("privilege")).flatMap((p) => elements(p).map((x) => x.name));
      assert.ok(privs.some((p) => ([d("write"), d("all"), d("write-content")] as string[]).includes(p)), `calendar looks read-only to Thunderbird: privileges ${privs.join(", ")}`);
    }
  });

  test("04 calendar PROPFIND: resourcetype calendar and sync-collection in supported-report-set (else getctag)", async () => {
    const r = await s.request("PROPFIND", cal, { depth: "0", body: loadBody(client, "04-calendar-propfind.xml") });
    expectStatus(r, 207, "04 calendar PROPFIND");
    const e = parseMultistatus(r).responses[0]!;
    assert.ok(hasResourceType(e, c("calendar")));
    const srs = okProp(e, d("supported-report-set"));
    const reports = srs ? elements(srs, d("supported-report")).flatMap((x) => { const rep = child(x, d("report")); return rep ? elements(rep).map((y) => y.name) : []; }) : [];
    assert.ok(reports.includes(d("sync-collection")) || okProp(e, cs("getctag")), `neither sync-collection nor getctag\n${r.body}`);
  });

  test("05 OPTIONS on the home answers with a DAV header", async () => {
    const r = await s.request("OPTIONS", home);
    expectStatus(r, [200, 204], "05 OPTIONS");
    assert.ok(r.headers.get("dav"), "OPTIONS without DAV header");
  });

  test("PUT probe: new items with If-None-Match: *, a second create of the same href is refused with 412", async () => {
    objs = await seed(s, cal, "tb", { withTodo: true });
    const first = [...objs.values()][0]!;
    const again = await put(s, first.url, first.body, { "if-none-match": "*" });
    expectStatus(again, 412, "PUT If-None-Match: * on an existing item");
    const get = await s.request("GET", first.url);
    expectStatus(get, 200, "GET created item");
    assert.equal(get.headers.get("etag") ?? first.etag, first.etag, "GET ETag differs from the PUT ETag");
    assert.ok(unfold(get.body).includes(`UID:${uidOf(first.body)}`));
  });

  test("07 sync-collection with <sync-token/>, 08 multiget; 09/10 fallback PROPFINDs agree", async () => {
    const r = await s.request("REPORT", cal, { depth: "1", body: syncBody("") });
    expectStatus(r, 207, "07 initial sync-collection");
    const ms = parseMultistatus(r);
    assert.ok(ms.syncToken, r.body);
    token = ms.syncToken!;
    const { changed } = syncMembers(ms, cal);
    assert.deepEqual([...changed.keys()].sort(), [...objs.keys()].sort(), describeMs(ms));
    const mg = await s.request("REPORT", cal, { depth: "1", body: fill(loadBody(client, "08-calendar-multiget.xml"), { hrefs: [...changed.values()].map((m) => HREF_FORM[client](m.rawHref)).join("") }) });
    expectStatus(mg, 207, "08 multiget");
    assertMultiget(parseMultistatus(mg), new Map([...changed].map(([p, m]) => [p, { etag: m.etag, uid: uidOf(objs.get(p)!.body) }])));
    const p9 = await s.request("PROPFIND", cal, { depth: "1", body: loadBody(client, "09-calendar-etags-propfind.xml") });
    expectStatus(p9, 207, "09 etags PROPFIND");
    const ms9 = parseMultistatus(p9);
    for (const [p, m] of changed) assert.equal(text(okProp(ms9.byPath(p), d("getetag"))!).trim(), m.etag, `09 ETag of ${p}`);
    const p10 = await s.request("PROPFIND", cal, { depth: "0", body: loadBody(client, "10-calendar-ctag-propfind.xml") });
    expectStatus(p10, 207, "10 ctag PROPFIND");
    assert.ok(okProp(parseMultistatus(p10).responses[0], cs("getctag")), `no getctag\n${p10.body}`);
  });

  test("modify (If-Match, stale → 412), delete (If-Match; repeated delete 404 = success), 07 delta", async () => {
    const paths = [...objs.keys()];
    const [delPath, modPath] = [paths[0]!, paths[2]!]; // delete the single event, modify the VTODO
    const oldEtag = objs.get(modPath)!.etag;
    const newEtag = await modifyAndDelete(s, objs, modPath, delPath);
    const stale = await put(s, objs.get(modPath)!.url, objs.get(modPath)!.body, { "if-match": oldEtag });
    expectStatus(stale, 412, "PUT with a stale If-Match");
    const again = await s.request("DELETE", objs.get(delPath)!.url, { headers: { "if-match": objs.get(delPath)!.etag } });
    expectStatus(again, [200, 204, 404], "repeated DELETE with If-Match (Thunderbird treats 404 as success)");
    const r = await s.request("REPORT", cal, { depth: "1", body: syncBody(token) });
    expectStatus(r, 207, "07 incremental sync-collection");
    assertDelta(parseMultistatus(r), cal, modPath, newEtag, oldEtag, delPath, [paths[1]!]);
  });
});

// =============================================================================================

describe("DAVx5 (DavResourceFinder / dav4jvm)", () => {
  const client: ClientName = "davx5";
  let s: ClientSession;
  let principal = "";
  let home = "";
  let cal = "";
  let objs = new Map<string, { url: string; body: string; etag: string }>();
  let token = "";
  const calName = `replay-davx5-${rand()}`;
  const syncBody = (tok: string): string => fill(loadBody(client, "08-calendar-sync.xml"), { "sync-token-element": tok === "" ? "<sync-token/>" : `<sync-token>${xmlEscape(tok)}</sync-token>` });

  /** Sync-collection with Depth 0; 507 on the collection means "more to fetch": repeat with the new token. */
  async function syncAll(tok: string): Promise<Multistatus[]> {
    const pages: Multistatus[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await s.request("REPORT", cal, { depth: "0", body: syncBody(tok) });
      expectStatus(r, 207, "08 sync-collection (Depth 0)");
      const ms = parseMultistatus(r);
      assert.ok(ms.syncToken, r.body);
      pages.push(ms);
      tok = ms.syncToken!;
      if (ms.byPath(cal)?.status !== 507) return pages;
    }
    assert.fail("sync-collection kept answering 507");
  }

  before(async () => {
    const u = target.users[0]!;
    s = new ClientSession(client, target.baseUrl, u.username, u.password);
    // Not a DAVx5 step: the account already has a second calendar made by another client.
    const r = await s.request("MKCALENDAR", new URL(`${calName}/`, target.homeUrl(u)).toString());
    expectStatus(r, 201, "setup MKCALENDAR (empty body)");
  });

  test("01 PROPFIND on the typed base URL (02 /.well-known/caldav when no principal)", async () => {
    const r = await s.request("PROPFIND", `${target.baseUrl}/`, { depth: "0", body: loadBody(client, "01-base-url-propfind.xml") });
    let cup: string | undefined;
    let at = r.url;
    if (r.status === 207) cup = hrefProp(parseMultistatus(r).responses[0], d("current-user-principal"));
    if (!cup) {
      const w = await s.request("PROPFIND", "/.well-known/caldav", { depth: "0", body: loadBody(client, "02-well-known-propfind.xml") });
      expectStatus(w, 207, "02 well-known PROPFIND");
      cup = hrefProp(parseMultistatus(w).responses[0], d("current-user-principal"));
      at = w.url;
    }
    assert.ok(cup, `no current-user-principal from / or /.well-known/caldav\n${s.recent()}`);
    principal = new URL(cup, at).toString();
  });

  test("03 OPTIONS on the principal advertises calendar-access", async () => {
    const r = await s.request("OPTIONS", principal);
    expectStatus(r, [200, 204], "03 OPTIONS principal");
    const dav = (r.headers.get("dav") ?? "").split(",").map((x) => x.trim());
    assert.ok(dav.includes("calendar-access"), `DAV header lacks calendar-access (DAVx5 drops the principal): ${r.headers.get("dav")}`);
  });

  test("04 email PROPFIND and 05 home-set PROPFIND on the principal", async () => {
    const r4 = await s.request("PROPFIND", principal, { depth: "0", body: loadBody(client, "04-principal-email-propfind.xml") });
    expectStatus(r4, 207, "04 principal email PROPFIND");
    parseMultistatus(r4);
    const r5 = await s.request("PROPFIND", principal, { depth: "0", body: loadBody(client, "05-principal-homesets-propfind.xml") });
    expectStatus(r5, 207, "05 principal homesets PROPFIND");
    const h = hrefProp(parseMultistatus(r5).responses[0], c("calendar-home-set"));
    assert.ok(h, r5.body);
    home = new URL(h, r5.url).toString();
  });

  test("06 home Depth 1 lists both calendars with resourcetype calendar", async () => {
    const r = await s.request("PROPFIND", home, { depth: "1", body: loadBody(client, "06-home-propfind.xml") });
    expectStatus(r, 207, "06 home PROPFIND");
    const ms = parseMultistatus(r);
    const cals = ms.responses.filter((x) => x.path !== normPath(home) && hasResourceType(x, c("calendar")));
    const mine = cals.find((x) => x.path === normPath(new URL(`${calName}/`, home).toString()));
    assert.ok(mine, `calendar ${calName} missing\n${describeMs(ms)}`);
    assert.ok(cals.some((x) => x.path === normPath(target.defaultCalendarUrl(target.users[0]!))), describeMs(ms));
    cal = new URL(mine.rawHref, r.url).toString();
  });

  test("07 capabilities PROPFIND lists sync-collection (else getctag)", async () => {
    const r = await s.request("PROPFIND", cal, { depth: "0", body: loadBody(client, "07-calendar-capabilities-propfind.xml") });
    expectStatus(r, 207, "07 capabilities PROPFIND");
    const e = parseMultistatus(r).responses[0]!;
    const srs = okProp(e, d("supported-report-set"));
    const names = srs ? elements(srs, d("supported-report")).flatMap((x) => { const rep = child(x, d("report")); return rep ? elements(rep).map((y) => y.name) : []; }) : [];
    assert.ok(names.includes(d("sync-collection")) || okProp(e, cs("getctag")), r.body);
  });

  test("08 sync-collection (Depth 0, <sync-token/>), 09 multiget, 10 calendar-query", async () => {
    objs = await seed(s, cal, "dx", { withTodo: true });
    const pages = await syncAll("");
    token = pages.at(-1)!.syncToken!;
    const all = new Map<string, { path: string; rawHref: string; etag: string }>();
    for (const p of pages) for (const [k, v] of syncMembers(p, cal).changed) all.set(k, v);
    assert.deepEqual([...all.keys()].sort(), [...objs.keys()].sort());
    const mg = await s.request("REPORT", cal, { body: fill(loadBody(client, "09-calendar-multiget.xml"), { hrefs: [...all.values()].map((m) => HREF_FORM[client](m.rawHref)).join("") }) });
    expectStatus(mg, 207, "09 multiget");
    assertMultiget(parseMultistatus(mg), new Map([...all].map(([p, m]) => [p, { etag: m.etag, uid: uidOf(objs.get(p)!.body) }])));
    const q = await s.request("REPORT", cal, { depth: "1", body: fill(loadBody(client, "10-calendar-query.xml"), { "past-start": "20240101T000000Z" }) });
    expectStatus(q, 207, "10 calendar-query VEVENT time-range");
    const qms = parseMultistatus(q);
    const events = [...objs.keys()].filter((p) => !objs.get(p)!.body.includes("BEGIN:VTODO"));
    assert.deepEqual(qms.responses.map((x) => x.path).filter((p) => p !== normPath(cal)).sort(), events.sort(), describeMs(qms));
    for (const p of events) assert.equal(text(okProp(qms.byPath(p), d("getetag"))!).trim(), all.get(p)!.etag);
  });

  test("modify + delete, then 08 with the saved token gives the delta", async () => {
    const paths = [...objs.keys()];
    const [modPath, delPath] = [paths[1]!, paths[2]!]; // modify the recurring event, delete the VTODO
    const oldEtag = objs.get(modPath)!.etag;
    const newEtag = await modifyAndDelete(s, objs, modPath, delPath);
    const pages = await syncAll(token);
    const merged: Multistatus = { responses: pages.flatMap((p) => p.responses), syncToken: pages.at(-1)!.syncToken, byPath: (x) => pages.flatMap((p) => p.responses).find((r) => r.path === normPath(x)) };
    assertDelta(merged, cal, modPath, newEtag, oldEtag, delPath, [paths[0]!]);
  });
});

// =============================================================================================

describe("isolation", () => {
  test("bob@example.com cannot read alice's home or calendar (403/404), sees his own", async () => {
    const [alice, bob] = [target.users[0]!, target.users[1]!];
    const s = new ClientSession("thunderbird", target.baseUrl, bob.username, bob.password);
    for (const url of [target.homeUrl(alice), target.defaultCalendarUrl(alice)]) {
      const r = await s.request("PROPFIND", url, { depth: "1", body: loadBody("thunderbird", "03-home-propfind.xml") });
      assert.ok([403, 404].includes(r.status), `bob PROPFIND ${url} → ${r.status}\n${r.body.slice(0, 1000)}`);
    }
    const own = await s.request("PROPFIND", target.homeUrl(bob), { depth: "1", body: loadBody("thunderbird", "03-home-propfind.xml") });
    expectStatus(own, 207, "bob's own home");
    const ms = parseMultistatus(own);
    assert.ok(ms.byPath(target.defaultCalendarUrl(bob)), describeMs(ms));
    const wrong = new ClientSession("thunderbird", target.baseUrl, alice.username, "wrong-password");
    const unauth = await wrong.request("PROPFIND", target.homeUrl(alice), { depth: "0" });
    expectStatus(unauth, 401, "wrong password");
    assert.match(unauth.headers.get("www-authenticate") ?? "", /^Basic/i);
  });
});
