/**
 * Provider libraries are loaded only for configured source types: a server with local calendars
 * (or CalDAV sources only) never holds the Google and Microsoft clients in memory, and a SQLite
 * server never loads the PostgreSQL driver. Checked in a child process, whose module cache is fresh.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const PROBE = `
import { createRequire } from "node:module";
const req = createRequire(import.meta.url);
const loaded = () => [...new Set(Object.keys(req.cache).map((k) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(k)?.[1]).filter(Boolean))];
const { openDb } = await import("./src/store/db.ts");
await import("./src/main.ts");
const db = await openDb(":memory:");
await db.destroy();
const out = { start: loaded() };
const { loadAdapters } = await import("./src/sources/registry.ts");
const local = await loadAdapters(["local", "caldav"]);
out.caldav = { types: Object.keys(local), loaded: loaded() };
const all = await loadAdapters(["google", "microsoft", "caldav", "nonsense"]);
out.all = { types: Object.keys(all).sort(), loaded: loaded() };
console.log(JSON.stringify(out));
`;

test("provider libraries load only for the source types asked for", () => {
  const out = JSON.parse(execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", PROBE], { cwd: ROOT, encoding: "utf8" })) as {
    start: string[];
    caldav: { types: string[]; loaded: string[] };
    all: { types: string[]; loaded: string[] };
  };
  const providers = ["google-auth-library", "@googleapis/calendar", "@microsoft/microsoft-graph-client", "tsdav"];
  for (const p of [...providers, "pg"]) assert.ok(!out.start.includes(p), `${p} is loaded by the composition root and a SQLite database alone`);
  assert.ok(out.start.includes("knex") && out.start.includes("koa"), "the probe sees CommonJS packages (else it proves nothing)");
  assert.deepEqual(out.caldav.types, ["caldav"], "local sources have no adapter");
  assert.ok(out.caldav.loaded.includes("tsdav"), "the CalDAV adapter brings its client");
  assert.ok(!out.caldav.loaded.includes("google-auth-library") && !out.caldav.loaded.includes("@microsoft/microsoft-graph-client"), "CalDAV alone loads no Google or Microsoft library");
  assert.deepEqual(out.all.types, ["caldav", "google", "microsoft"], "unknown types are left out");
  for (const p of ["google-auth-library", "@googleapis/calendar", "@microsoft/microsoft-graph-client"]) assert.ok(out.all.loaded.includes(p), `${p} loads with its source type`);
});
