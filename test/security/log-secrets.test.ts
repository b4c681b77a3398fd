/**
 * No secret ever reaches the logs: a full run of the real `calgate serve` at log level trace (users
 * with passwords, a CalDAV source with its password, secretKey, all from the environment) is driven
 * through a sync, client reads and writes, failed logins (with passwords that embed the real ones),
 * throttled logins, an upstream that refuses the credentials, POST /sync and SSE; then every line it
 * wrote is searched for every secret, in clear and in the forms it travels in (Basic credentials).
 * Also `calgate check-config` on a config with errors next to secrets does not echo them.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { startRadicale, peerAvailable, type PeerServer } from "../helpers/peers.ts";
import { freePort, sleep, startProcess, waitForHttp, type ManagedProcess } from "../helpers/proc.ts";
import { REPO_ROOT } from "../helpers/calgate.ts";

const R = Math.random().toString(36).slice(2, 10);
const SECRETS = {
  alice: `alice-pw-${R}-Zq9`,
  bob: `bob-pw-${R}-Xy7`,
  upstream: `radicale-pw-${R}-Kk3`,
  key: `secret-key-${R}-0123456789abcdefghijklmnop`,
};
const basic = (u: string, p: string): string => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");

let radicale: PeerServer;
let gw: ManagedProcess;
let dir: string;
let base: string;
let configFile: string;

before(async () => {
  const missing = peerAvailable("radicale");
  if (missing) throw new Error(missing);
  radicale = await startRadicale({ users: [{ username: "alice", password: SECRETS.upstream }], calendars: ["personal"] });
  dir = mkdtempSync(join(tmpdir(), "calgate-logs-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  configFile = join(dir, "calgate.yaml");
  writeFileSync(
    configFile,
    `server: { host: 127.0.0.1, port: ${port} }
storage: { client: sqlite, filename: ${JSON.stringify(join(dir, "calgate.sqlite"))} }
logging: { level: trace }
secretKey: \${CALGATE_SECRET_KEY}
sync: { schedule: "0 0 1 1 *", jitterSeconds: 0, writeDeadlineMs: 3000, timeoutMs: 5000 }
users:
  - username: alice
    password: \${ALICE_PASSWORD}
    sources:
      - { id: local, type: local, calendars: [{ id: personal, name: Personal }] }
      - { id: r, type: caldav, url: "${radicale.baseUrl}/", username: alice, password: "\${UPSTREAM_PASSWORD}" }
      - { id: bad, type: caldav, url: "${radicale.baseUrl}/", username: alice, password: "wrong-password-for-the-upstream" }
  - username: bob
    password: \${BOB_PASSWORD}
    sources: [{ id: local, type: local, calendars: [{ id: personal, name: Personal }] }]
`,
  );
  gw = startProcess(process.execPath, ["--import", "tsx", "src/cli/index.ts", "serve", "-c", configFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, ALICE_PASSWORD: SECRETS.alice, BOB_PASSWORD: SECRETS.bob, UPSTREAM_PASSWORD: SECRETS.upstream, CALGATE_SECRET_KEY: SECRETS.key },
  });
  await waitForHttp(`${base}/healthz`, { proc: gw, timeoutMs: 30_000, name: "calgate serve" });
});

after(async () => {
  await gw?.stop(10_000);
  await radicale?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("secrets never reach the logs", () => {
  test("a full run at level trace: sync, reads, writes, failed and throttled logins, upstream auth failure", async () => {
    const A = basic("alice", SECRETS.alice);
    const ev = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", "BEGIN:VEVENT", "UID:log-test", "DTSTAMP:20240101T000000Z", "DTSTART:20240101T100000Z", "SUMMARY:log test", "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
    // Wait for the start-up sync to bring in the Radicale calendar.
    const deadline = Date.now() + 30_000;
    while ((await fetch(`${base}/dav/calendars/alice/r-personal/`, { method: "PROPFIND", headers: { authorization: A, depth: "0" } })).status !== 207) {
      assert.ok(Date.now() < deadline, "r-personal appeared");
      await sleep(100);
    }
    for (const cal of ["local-personal", "r-personal"]) {
      const put = await fetch(`${base}/dav/calendars/alice/${cal}/log.ics`, { method: "PUT", headers: { authorization: A, "content-type": "text/calendar" }, body: ev.replace("log-test", `log-${cal}`) });
      assert.equal(put.status, 201, await put.text());
      assert.equal((await fetch(`${base}/dav/calendars/alice/${cal}/log.ics`, { headers: { authorization: A } })).status, 200);
    }
    assert.equal((await fetch(`${base}/sync`, { method: "POST", headers: { authorization: A } })).status, 202);
    // Failed logins whose passwords contain the real ones, then enough to be throttled.
    for (let i = 0; i < 12; i++) {
      const r = await fetch(`${base}/dav/`, { method: "PROPFIND", headers: { authorization: basic(i % 2 ? "alice" : "bob", `${SECRETS.alice}x${SECRETS.bob}`), depth: "0", "x-request-id": `attempt-${i}` } });
      await r.arrayBuffer();
      assert.ok(r.status === 401 || r.status === 429);
    }
    const sse = await fetch(`${base}/events`, { headers: { authorization: basic("bob", SECRETS.bob), "last-event-id": "0" }, signal: AbortSignal.timeout(500) }).catch(() => null);
    await sse?.body?.cancel().catch(() => undefined);
    await sleep(2000); // the failing "bad" source's sync and the write-back finish and log
    await gw.stop(10_000);
    const logs = gw.output();
    assert.ok(logs.split("\n").length > 20, `the run logged (${logs.length} bytes)`);
    assert.match(logs, /"level":"(trace|debug)"/, "trace/debug lines were written (the test looked at the verbose logs)");
    const forms: [string, string][] = [];
    for (const [name, s] of Object.entries(SECRETS)) {
      forms.push([name, s], [`${name} (base64)`, Buffer.from(s).toString("base64")], [`${name} (url-encoded)`, encodeURIComponent(s)]);
    }
    forms.push(["alice's Basic credentials", basic("alice", SECRETS.alice).slice(6)], ["upstream Basic credentials", basic("alice", SECRETS.upstream).slice(6)], ["bob's Basic credentials", basic("bob", SECRETS.bob).slice(6)]);
    for (const [what, s] of forms) {
      const at = logs.indexOf(s);
      assert.equal(at, -1, `${what} appears in the logs: …${logs.slice(Math.max(0, at - 200), at + 50)}…`);
    }
  });

  test("check-config errors next to secrets do not echo them", () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, `secretKey: ${SECRETS.key}\nusers:\n  - username: alice\n    password: ${SECRETS.alice}\n    passwordHash: ${SECRETS.bob}\n    sources: [{ id: r, type: caldav, url: "ftp://x", username: a, password: ${SECRETS.upstream} }]\n`);
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/index.ts", "check-config", "-c", bad], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.notEqual(r.status, 0);
    for (const s of Object.values(SECRETS)) assert.ok(!(r.stdout + r.stderr).includes(s), `check-config output includes a secret:\n${r.stderr}`);
  });
});
