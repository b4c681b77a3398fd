/**
 * Every conflict policy (sync.conflictPolicy) against a real Radicale upstream, issue 11 deliverable 6:
 * one in-process calgate per policy (its CalDAV source reaches Radicale through a fault proxy), one
 * Radicale with a user and calendar per policy. Each scenario: the object is synced (the base), the
 * upstream changes it directly on Radicale, then the gateway's client writes with the ETag it had, so
 * the write-through meets a 412 and the policy decides. Checked per scenario: the client's answer, what
 * Radicale holds, what calgate serves (the two agree), the conflict record (policy, outcome, ours,
 * theirs, base, result) and that no version is lost (each side's version is at Radicale, in calgate or
 * in `conflicts`). Offline: create+edit+delete of one object and edits of another while the upstream
 * refuses connections (a TCP switch in front of the proxy), the upstream changes the second meanwhile,
 * then reconnect. Prints the outcome table (scenario × policy) for issue 11's closing note.
 * Known defect, marked todo: the offline create+edit+delete reaches Radicale as PUT then DELETE.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { parseConfigText } from "../../src/config/load.ts";
import { startServer } from "../../src/main.ts";
import { openDb } from "../../src/store/db.ts";
import { sameContent } from "../../src/ical/content.ts";
import { parseXml } from "../../src/xml/parse.ts";
import { child, elements, text } from "../../src/xml/tree.ts";
import { peerAvailable, startRadicale, basicAuth, type PeerServer } from "../helpers/peers.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";
import { startSwitch, type TcpSwitch } from "../helpers/tcp-switch.ts";
import { col, objects, req, syncNow, unfold, uidOf, until, type World } from "../helpers/dav-world.ts";

const POLICIES = ["merge", "upstream-wins", "client-wins", "newest-wins"] as const;
type Policy = (typeof POLICIES)[number];
const T0 = "20261201T000000Z"; // the base
const UP = "20261202T100000Z"; // an upstream edit
const CL = "20261202T120000Z"; // a client edit (newer than UP)
const UP_NEWER = "20261202T130000Z"; // an upstream edit newer than CL
const RID = "20261216T090000Z";

interface Ev { S: string; L?: string; C?: string; A?: string[]; lm: string; rrule?: boolean; override?: { S: string; lm: string } }
function ics(uid: string, e: Ev): string {
  const master = ["BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", `LAST-MODIFIED:${e.lm}`, "DTSTART:20261214T090000Z", "DTEND:20261214T093000Z",
    ...(e.rrule ? ["RRULE:FREQ=DAILY;COUNT=5"] : []), `SUMMARY:${e.S}`, ...(e.L ? [`LOCATION:${e.L}`] : []), ...(e.C ? [`CATEGORIES:${e.C}`] : []),
    ...(e.A ?? []).map((a) => `ATTENDEE;CN=${a}:mailto:${a}@example.com`), "END:VEVENT"];
  const o = e.override;
  const ov = o ? ["BEGIN:VEVENT", `UID:${uid}`, "DTSTAMP:20261201T000000Z", `LAST-MODIFIED:${o.lm}`, `RECURRENCE-ID:${RID}`, "DTSTART:20261216T100000Z", "DTEND:20261216T103000Z", `SUMMARY:${o.S}`, "END:VEVENT"] : [];
  return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calgate conflict-policy test//EN", ...master, ...ov, "END:VCALENDAR", ""].join("\r\n");
}

/**
 * What a version says, modulo Radicale's rewriting: per VEVENT (master first, overrides as [RECURRENCE-ID])
 * SUMMARY, LOCATION, CATEGORIES (as a set), ATTENDEE (as a set of local parts). null: deleted.
 */
function facts(v: string | null | undefined): string {
  if (v === null || v === undefined) return "deleted";
  const blocks = unfold(v).split(/\r?\n/).join("\n").split("BEGIN:VEVENT").slice(1).map((b) => b.split("END:VEVENT")[0]!);
  const val = (b: string, name: string): string[] => [...b.matchAll(new RegExp(`^${name}(?:;[^:]*)?:(.*)$`, "gm"))].map((m) => m[1]!.trim());
  return blocks.map((b) => {
    const rid = val(b, "RECURRENCE-ID")[0];
    const cats = val(b, "CATEGORIES").flatMap((c) => c.split(",")).map((c) => c.trim()).sort();
    const att = val(b, "ATTENDEE").map((a) => a.replace(/^mailto:/i, "").split("@")[0]!.toLowerCase()).sort();
    return [rid ? `[${rid}]` : "", ...val(b, "SUMMARY").map((s) => `S=${s}`), ...val(b, "LOCATION").map((s) => `L=${s}`), cats.length ? `C=${cats.join(",")}` : "", att.length ? `A=${att.join(",")}` : ""].filter(Boolean).join(" ");
  }).sort((a, b) => (a.startsWith("[") ? 1 : 0) - (b.startsWith("[") ? 1 : 0) || a.localeCompare(b)).join(" | ");
}

type Outcome = "merged" | "upstream-won" | "client-won" | "newest-won" | "kept-edit";
interface Expect { answer: "2xx" | "412"; outcome: Outcome; result: string }
interface Scenario { key: string; label: string; base: Ev; upstream: Ev | null; client: Ev | null; expect: Record<Policy, Expect> }
const e = (answer: Expect["answer"], outcome: Outcome, result: string): Expect => ({ answer, outcome, result });

const SCENARIOS: Scenario[] = [
  { key: "s1", label: "1 different properties (SUMMARY here, LOCATION upstream; client newer)",
    base: { S: "base", L: "base", lm: T0 }, upstream: { S: "base", L: "upstream", lm: UP }, client: { S: "client", L: "base", lm: CL },
    expect: { merge: e("2xx", "merged", "S=client L=upstream"), "upstream-wins": e("412", "upstream-won", "S=base L=upstream"), "client-wins": e("2xx", "client-won", "S=client L=base"), "newest-wins": e("2xx", "newest-won", "S=client L=base") } },
  { key: "s2a", label: "2a same property (SUMMARY), upstream newer",
    base: { S: "base", lm: T0 }, upstream: { S: "upstream", lm: UP_NEWER }, client: { S: "client", lm: CL },
    expect: { merge: e("412", "merged", "S=upstream"), "upstream-wins": e("412", "upstream-won", "S=upstream"), "client-wins": e("2xx", "client-won", "S=client"), "newest-wins": e("412", "newest-won", "S=upstream") } },
  { key: "s2b", label: "2b same property (SUMMARY), client newer",
    base: { S: "base", lm: T0 }, upstream: { S: "upstream", lm: UP }, client: { S: "client", lm: CL },
    expect: { merge: e("2xx", "merged", "S=client"), "upstream-wins": e("412", "upstream-won", "S=upstream"), "client-wins": e("2xx", "client-won", "S=client"), "newest-wins": e("2xx", "newest-won", "S=client") } },
  { key: "s3", label: "3 client edits, upstream deletes",
    base: { S: "base", lm: T0 }, upstream: null, client: { S: "client", lm: CL },
    expect: { merge: e("2xx", "kept-edit", "S=client"), "upstream-wins": e("412", "upstream-won", "deleted"), "client-wins": e("2xx", "client-won", "S=client"), "newest-wins": e("2xx", "kept-edit", "S=client") } },
  { key: "s4", label: "4 client deletes, upstream edits",
    base: { S: "base", lm: T0 }, upstream: { S: "upstream", lm: UP }, client: null,
    expect: { merge: e("412", "kept-edit", "S=upstream"), "upstream-wins": e("412", "upstream-won", "S=upstream"), "client-wins": e("2xx", "client-won", "deleted"), "newest-wins": e("412", "kept-edit", "S=upstream") } },
  { key: "s5", label: "5 series: client overrides one occurrence, upstream renames the series (master stamps: upstream newer)",
    base: { S: "base", lm: T0, rrule: true }, upstream: { S: "upstream", lm: UP, rrule: true }, client: { S: "base", lm: T0, rrule: true, override: { S: "client", lm: CL } },
    expect: { merge: e("2xx", "merged", `S=upstream | [${RID}] S=client`), "upstream-wins": e("412", "upstream-won", "S=upstream"), "client-wins": e("2xx", "client-won", `S=base | [${RID}] S=client`), "newest-wins": e("412", "newest-won", "S=upstream") } },
  { key: "s6", label: "6 CATEGORIES and ATTENDEE added on both sides (client newer)",
    base: { S: "base", C: "base", A: ["a"], lm: T0 }, upstream: { S: "base", C: "base,upstream", A: ["a", "c"], lm: UP }, client: { S: "base", C: "base,client", A: ["a", "b"], lm: CL },
    expect: { merge: e("2xx", "merged", "S=base C=base,client,upstream A=a,b,c"), "upstream-wins": e("412", "upstream-won", "S=base C=base,upstream A=a,c"), "client-wins": e("2xx", "client-won", "S=base C=base,client A=a,b"), "newest-wins": e("2xx", "newest-won", "S=base C=base,client A=a,b") } },
];
const OFFLINE = { key: "s7", label: "7 offline: A created+edited+deleted, B edited twice (SUMMARY), upstream edits B's LOCATION, reconnect",
  base: { S: "base", L: "base", lm: T0 }, upstream: { S: "base", L: "upstream", lm: UP }, client1: { S: "client-1", L: "base", lm: "20261202T110000Z" }, client: { S: "client", L: "base", lm: CL },
  expect: { merge: e("2xx", "merged", "S=client L=upstream"), "upstream-wins": e("2xx", "upstream-won", "S=base L=upstream"), "client-wins": e("2xx", "client-won", "S=client L=base"), "newest-wins": e("2xx", "newest-won", "S=client L=base") } as Record<Policy, Expect> };

/** scenario key → policy → cell of the printed table. */
const table = new Map<string, Map<Policy, string>>();
const cell = (k: string, p: Policy, v: string): void => void (table.get(k) ?? table.set(k, new Map()).get(k)!).set(p, v);

/** Objects whose calgate and Radicale texts differ beyond the compared facts (Radicale's rewriting, reported). */
const rewritten = new Set<string>();
const missing = peerAvailable("radicale");
let radicale: PeerServer;
const userOf = (p: Policy): { username: string; password: string } => ({ username: `u-${p}`, password: `pw-${p}` });

async function radicaleByUid(p: Policy): Promise<Map<string, string>> {
  const u = userOf(p);
  const r = await fetch(`${radicale.baseUrl}/${u.username}/cal/`, { method: "REPORT", headers: { authorization: basicAuth(u.username, u.password), depth: "1", "content-type": "application/xml" },
    body: `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>` });
  const body = await r.text();
  assert.equal(r.status, 207, body);
  const out = new Map<string, string>();
  for (const resp of elements(parseXml(body), "{DAV:}response")) {
    const ps = elements(resp, "{DAV:}propstat").find((x) => /200/.test(text(child(x, "{DAV:}status")!)));
    const data = ps ? child(child(ps, "{DAV:}prop")!, "{urn:ietf:params:xml:ns:caldav}calendar-data") : undefined;
    if (data) out.set(uidOf(text(data)), text(data));
  }
  return out;
}
/** A request to Radicale as the policy's user (another client of the upstream). */
async function upstream(p: Policy, method: string, uid: string, body?: string): Promise<number> {
  const u = userOf(p);
  const r = await fetch(`${radicale.baseUrl}/${u.username}/cal/${uid}.ics`, { method, body, headers: { authorization: basicAuth(u.username, u.password), ...(body ? { "content-type": "text/calendar; charset=utf-8" } : {}) } });
  await r.arrayBuffer();
  return r.status;
}
async function calgateByUid(w: World): Promise<Map<string, { name: string; ics: string }>> {
  const m = await objects(col(w, "r-cal"));
  return new Map([...m].map(([name, v]) => [uidOf(v), { name, ics: v }]));
}

interface PolicyWorld extends World { proxy: FaultProxy; sw: TcpSwitch; policy: Policy }
async function startWorld(p: Policy): Promise<PolicyWorld> {
  const proxy = await startFaultProxy(radicale.baseUrl);
  const sw = await startSwitch(proxy.url);
  const dir = mkdtempSync(join(tmpdir(), `calgate-policy-${p}-`));
  const filename = join(dir, "db.sqlite");
  const u = userOf(p);
  const yaml = `server: { host: 127.0.0.1, port: 0 }
storage: { client: sqlite, filename: ${filename} }
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 4000, timeoutMs: 3000, conflictPolicy: ${p} }
users:
  - username: alice
    password: secret-a
    sources:
      - { id: r, type: caldav, url: "${sw.url}/", username: ${u.username}, password: ${u.password} }
`;
  const server = await startServer(parseConfigText(yaml, `${p}.yaml`, {}), { configPath: null, generatedPassword: null, logger: pino({ level: process.env.TEST_LOG ?? "silent" }) });
  const db = await openDb(filename);
  return { server, db, dir, base: server.url.replace(/\/$/, ""), proxy, sw, policy: p };
}
async function stopWorld(w: PolicyWorld): Promise<void> {
  await w.server.close();
  await w.db.destroy();
  await w.sw.down();
  await w.proxy.close();
  rmSync(w.dir, { recursive: true, force: true });
}

/**
 * After a scenario: Radicale and calgate agree on the object (sameContent, else the same facts), the
 * conflict record says what the policy did, and no version is lost. Returns the table cell's tail.
 */
async function verify(w: PolicyWorld, uid: string, name: string, sides: { base: string; ours: string | null; theirs: string | null }, x: Expect): Promise<string> {
  const [atUp, atGw] = [(await radicaleByUid(w.policy)).get(uid) ?? null, (await calgateByUid(w)).get(uid)?.ics ?? null];
  const rec = await w.db("conflicts").where({ object_name: name }).orderBy("id", "desc").first();
  const got = `${rec?.outcome ?? "no conflict record"} · ${facts(atUp)}`;
  assert.equal(facts(atGw), facts(atUp), `calgate serves "${facts(atGw)}" but Radicale holds "${facts(atUp)}"`);
  if (atUp && atGw && !sameContent(atUp, atGw)) rewritten.add(`${w.policy}/${uid}`);
  assert.equal(facts(atUp), x.result, `Radicale holds "${facts(atUp)}", the policy ${w.policy} promises "${x.result}"`);
  assert.ok(rec, `no conflict record for ${name}`);
  assert.equal(rec.policy, w.policy);
  assert.equal(rec.outcome, x.outcome, `outcome ${rec.outcome}, expected ${x.outcome} (${rec.resolution})`);
  assert.equal(facts(rec.ours), facts(sides.ours), "the record keeps the client's version as ours");
  assert.equal(facts(rec.theirs), facts(sides.theirs), "the record keeps the upstream's version as theirs");
  assert.equal(facts(rec.base), facts(sides.base), "the record keeps the base");
  assert.equal(facts(rec.result), x.result, "the record's result is what both sides hold");
  for (const [side, v] of [["client", sides.ours], ["upstream", sides.theirs]] as const) {
    const kept = v === null ? atUp === null || rec[side === "client" ? "ours" : "theirs"] === null : [atUp, atGw, rec.ours, rec.theirs, rec.result].some((k) => k && facts(k) === facts(v));
    assert.ok(kept, `the ${side}'s version (${facts(v)}) is neither at Radicale, in calgate nor in the conflict record`);
  }
  return got;
}

describe("conflict policies against Radicale", { skip: missing ?? false }, () => {
  before(async () => {
    radicale = await startRadicale({ users: POLICIES.map(userOf), calendars: ["cal"] });
    for (const p of POLICIES.slice(1)) {
      const u = userOf(p);
      const auth = basicAuth(u.username, u.password);
      await (await fetch(`${radicale.baseUrl}/`, { method: "PROPFIND", headers: { authorization: auth, depth: "0" } })).arrayBuffer();
      const r = await fetch(`${radicale.baseUrl}/${u.username}/cal/`, { method: "MKCALENDAR", headers: { authorization: auth } });
      assert.equal(r.status, 201, await r.text());
    }
  });
  after(async () => {
    await radicale?.stop();
    const rows = [...SCENARIOS, OFFLINE].map((s) => `| ${s.label} | ${POLICIES.map((p) => table.get(s.key)?.get(p) ?? "not run").join(" | ")} |`);
    console.log(rewritten.size ? `texts at Radicale and in calgate differ (same facts, not sameContent) for: ${[...rewritten].join(", ")}` : "calgate serves what Radicale holds (sameContent) for every object checked");
    console.log(["", "Conflict policies against Radicale 3 (client answer · outcome · what both sides hold):", "", `| scenario | ${POLICIES.join(" | ")} |`, `|---|${POLICIES.map(() => "---").join("|")}|`, ...rows, ""].join("\n"));
  });

  for (const p of POLICIES) {
    describe(`sync.conflictPolicy: ${p}`, () => {
      let w: PolicyWorld;
      const names = new Map<string, string>(); // uid → calgate name
      const etags = new Map<string, string>(); // uid → the gateway ETag the client holds
      let aSent: string[] | null = null; // writes of the offline-created object that reached Radicale
      before(async () => {
        w = await startWorld(p);
        for (const s of [...SCENARIOS, OFFLINE]) assert.equal(await upstream(p, "PUT", `${p}-${s.key}`, ics(`${p}-${s.key}`, s.base)), 201);
        await syncNow(w);
        const gw = await until("the base objects in calgate", async () => {
          const m = await calgateByUid(w);
          return m.size === SCENARIOS.length + 1 && m;
        });
        for (const [uid, { name }] of gw) {
          names.set(uid, name);
          const g = await req(`${col(w, "r-cal")}${name}`, "GET");
          assert.equal(g.status, 200);
          etags.set(uid, g.headers.get("etag")!);
        }
      });
      after(async () => {
        if (w) await stopWorld(w);
      });

      for (const s of SCENARIOS) {
        test(s.label, async () => {
          const uid = `${p}-${s.key}`;
          const name = names.get(uid)!;
          const theirs = s.upstream ? ics(uid, s.upstream) : null;
          const ours = s.client ? ics(uid, s.client) : null;
          assert.equal(await upstream(p, theirs ? "PUT" : "DELETE", uid, theirs ?? undefined), theirs ? 201 : 200, "the upstream change on Radicale");
          const url = `${col(w, "r-cal")}${name}`;
          const r = ours ? await req(url, "PUT", ours, { "if-match": etags.get(uid)! }) : await req(url, "DELETE", undefined, { "if-match": etags.get(uid)! });
          const x = s.expect[p];
          const answer = `${ours ? "PUT" : "DELETE"} ${r.status}${r.status < 300 && ours ? (r.headers.get("etag") ? " +ETag" : " no ETag") : ""}`;
          cell(s.key, p, `${answer} · (checking)`);
          const got = await verify(w, uid, name, { base: ics(uid, s.base), ours, theirs }, x).catch((err: Error) => {
            cell(s.key, p, `${answer} · FAILED: ${err.message.split("\n")[0]}`);
            throw err;
          });
          cell(s.key, p, `${answer} · ${got}`);
          if (x.answer === "412") assert.equal(r.status, 412, `the client's ${ours ? "PUT" : "DELETE"} is answered 412 when the upstream's version stands: ${r.status} ${r.body.slice(0, 200)}`);
          else assert.ok(r.status >= 200 && r.status < 300, `the client's write is answered 2xx: ${r.status} ${r.body.slice(0, 200)}`);
          if (r.status < 300 && ours && facts(ours) !== x.result) assert.equal(r.headers.get("etag"), null, "a PUT whose stored result differs from what was sent is answered without an ETag");
        });
      }

      test(OFFLINE.label, async () => {
        const [a, b] = [`${p}-s7-new`, `${p}-s7`];
        const colUrl = col(w, "r-cal");
        const bName = names.get(b)!;
        const mark = w.proxy.log.length;
        await w.sw.down(); // the upstream is unreachable: connections are refused
        const answers: number[] = [];
        const put = async (url: string, body: string, h: Record<string, string>): Promise<string | null> => {
          const r = await req(url, "PUT", body, h);
          answers.push(r.status);
          return r.headers.get("etag");
        };
        const aUrl = `${colUrl}${a}.ics`;
        let etag = await put(aUrl, ics(a, { S: "offline new", lm: CL }), { "if-none-match": "*" });
        etag = await put(aUrl, ics(a, { S: "offline new, edited", lm: CL }), etag ? { "if-match": etag } : {});
        answers.push((await req(aUrl, "DELETE", undefined, etag ? { "if-match": etag } : {})).status);
        const bUrl = `${colUrl}${bName}`;
        etag = await put(bUrl, ics(b, OFFLINE.client1), { "if-match": etags.get(b)! });
        await put(bUrl, ics(b, OFFLINE.client), etag ? { "if-match": etag } : {});
        const theirs = ics(b, OFFLINE.upstream);
        assert.equal(await upstream(p, "PUT", b, theirs), 201, "the upstream edits B directly on Radicale");
        const answer = `5 writes offline: ${answers.join(",")}`;
        cell(OFFLINE.key, p, `${answer} · (reconnect pending)`);
        assert.ok(answers.every((s) => s >= 200 && s < 300), `every offline write is answered 2xx from the outbox: ${answers.join(", ")}`);

        await w.sw.up(); // reconnect
        await until("the outbox to drain after reconnecting", async () => {
          await syncNow(w);
          return (await w.db("outbox").where({ state: "pending" }).count({ n: "*" }).first())?.n === 0;
        }, 45_000);
        aSent = w.proxy.log.slice(mark).filter((l) => l.fault === null && l.method !== "GET" && l.path.includes(a)).map((l) => l.method);
        const [atUp, atGw] = [await radicaleByUid(p), await calgateByUid(w)];
        const got = await verify(w, b, bName, { base: ics(b, OFFLINE.base), ours: ics(b, OFFLINE.client), theirs }, OFFLINE.expect[p]).catch((err: Error) => {
          cell(OFFLINE.key, p, `${answer} · FAILED: ${err.message.split("\n")[0]}`);
          throw err;
        });
        cell(OFFLINE.key, p, `${answer} · B: ${got} · A at Radicale: ${atUp.has(a) ? "PRESENT" : "nothing"}${aSent.length ? ` (sent on reconnect: ${aSent.join("+")})` : " (nothing sent)"}`);
        assert.equal(atUp.has(a), false, "the object created, edited and deleted offline is not at Radicale");
        assert.equal(atGw.has(a), false, "nor in calgate");
        const ours = w.db("conflicts").where({ object_name: `${a}.ics` });
        assert.equal((await ours).length, 0, "and it made no conflict");
      });

      test("7 offline: the object created, edited and deleted offline reaches Radicale as no request at all", () => {
        assert.ok(aSent, "the offline scenario ran");
        assert.deepEqual(aSent, [], `coalescing: a create, edit and delete made while the upstream refused connections reach it as nothing, but Radicale received ${aSent.join(" then ")} for it on reconnect (the create's outbox row was marked sent when claimed, although its request never left, so the edit and delete queued behind it instead of absorbing it)`);
      });

      test("after a sync, Radicale and calgate hold the same calendar", async () => {
        await syncNow(w);
        const [up, gw] = [await radicaleByUid(p), await calgateByUid(w)];
        assert.deepEqual(new Map([...gw].map(([k, v]) => [k, facts(v.ics)])), new Map([...up].map(([k, v]) => [k, facts(v)])));
        assert.equal((await w.db("outbox").where({ state: "pending" })).length, 0, "nothing is left queued");
      });
    });
  }
});
