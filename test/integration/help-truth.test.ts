/**
 * Every URL path that `calgate serve --help` and the README's URL table name is served: a request to
 * it is answered by its route, never by the 404 of an unknown path.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT } from "../helpers/calgate.ts";
import { runCalgate } from "../helpers/cli-run.ts";
import { basic, startInproc, type InprocServer } from "../helpers/inproc.ts";

let server: InprocServer;
before(async () => (server = await startInproc()));
after(() => server.stop());

/** The method a route answers: the ones documented as POST-only are probed with POST. */
const POST_ONLY = new Set(["/sync", "/hooks/google", "/hooks/microsoft"]);

async function assertRouted(path: string, where: string): Promise<void> {
  const method = POST_ONLY.has(path) ? "POST" : path.startsWith("/dav") ? "PROPFIND" : "GET";
  const res = await fetch(`${server.url}${path}`, { method, redirect: "manual", headers: { authorization: basic("alice", "secret-a"), depth: "0" }, signal: AbortSignal.timeout(5000) });
  const body = res.headers.get("content-type")?.startsWith("text/event-stream") ? "" : await res.text();
  if (body === "") await res.body?.cancel();
  assert.notEqual(res.status, 404, `${where} names ${path}, but ${method} ${path} answers 404: ${body}`);
  assert.notEqual(body, "not found\n", `${where} names ${path}, which no route serves`);
}

describe("help and README name only what exists", () => {
  test("every path in `calgate serve --help` is served", async () => {
    const r = await runCalgate(["serve", "--help"], { cwd: REPO_ROOT });
    assert.equal(r.code, 0, r.stderr);
    const paths = [...new Set([...r.stdout.matchAll(/(?<![\w.])(\/[a-z.][a-z./-]*[a-z/])/g)].map((m) => m[1]!))].filter((p) => !p.startsWith("./") && !p.includes("."+"sqlite"));
    for (const expected of ["/dav/", "/.well-known/caldav", "/healthz", "/metrics", "/events", "/sync"]) assert.ok(paths.includes(expected), `serve --help names ${expected}: ${paths.join(", ")}`);
    for (const p of paths) await assertRouted(p, "serve --help");
  });

  test("every path in the README's URL table is served", async () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf("## URL space"), readme.indexOf("\n## ", readme.indexOf("## URL space") + 5));
    const rows = [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!.replace(/<user>/g, "alice").replace(/<calendar>/g, "local-personal"));
    assert.ok(rows.length >= 8, `URL table rows: ${rows.join(", ")}`);
    for (const p of rows.filter((r) => !r.includes("<"))) await assertRouted(p, "README URL table");
  });
});
