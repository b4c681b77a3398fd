/** check-config's warnings: keys a valid config sets that this version does not act on (yet). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfigText } from "../../src/config/load.ts";
import { configWarnings } from "../../src/config/warnings.ts";
import { isSynced } from "../../src/sources/registry.ts";

const KEY = "abcdefghijklmnopqrstuvwxyz0123456789abcd";
const cfg = (extra: string, sources: string): ReturnType<typeof parseConfigText> =>
  parseConfigText(`secretKey: ${KEY}\n${extra}\nusers:\n  - username: alice\n    password: x\n    sources:\n${sources}`, "w.yaml", {});

test("a local-only config has no warnings", () => {
  assert.deepEqual(configWarnings(cfg("", "      - { id: home, type: local, calendars: [{ id: personal, name: Personal }] }"), isSynced), []);
});

test("google and microsoft push over plain http are warned about; conflict policies are not (they exist)", () => {
  const w = configWarnings(cfg('server: { publicUrl: "http://cal.example.com/" }', [
    "      - { id: work, type: google, clientId: c.apps.googleusercontent.com, clientSecret: s }",
    "      - { id: office, type: microsoft, clientId: 00000000-0000-0000-0000-000000000000 }",
  ].join("\n")), isSynced);
  assert.ok(w.some((x) => /work: Google sends push notifications only to an https/.test(x)), w.join("\n"));
  assert.ok(w.some((x) => /office: Microsoft Graph sends change notifications only to an https/.test(x)), w.join("\n"));
  assert.ok(!w.some((x) => /not synced/.test(x)), "microsoft sources are synced");
  assert.ok(!w.some((x) => /conflictPolicy/.test(x)), "conflict policies are implemented: no warning");
  const https = configWarnings(cfg('server: { publicUrl: "https://cal.example.com/" }', "      - { id: work, type: google, clientId: c.apps.googleusercontent.com, clientSecret: s }"), isSynced);
  assert.ok(!https.some((x) => /push/.test(x)), "an https publicUrl is fine");
});

test("merged calendars are served (no warning), but a writeTo outside include is named", () => {
  const local = "      - { id: home, type: local, calendars: [{ id: personal, name: Personal }, { id: family, name: Family }] }";
  const ok = parseConfigText(`users:\n  - username: alice\n    password: x\n    sources:\n${local}\n    merged:\n      - { id: all, name: All, include: ["home/*"], writeTo: home/personal }\n`, "w.yaml", {});
  assert.deepEqual(configWarnings(ok, isSynced), []);
  const outside = parseConfigText(`users:\n  - username: alice\n    password: x\n    sources:\n${local}\n    merged:\n      - { id: fam, name: Fam, include: ["home/family"], writeTo: home/personal }\n`, "w.yaml", {});
  const w = configWarnings(outside, isSynced);
  assert.equal(w.length, 1, w.join("\n"));
  assert.match(w[0]!, /merged\.fam: writeTo home\/personal is not among the calendars it includes/);
});
