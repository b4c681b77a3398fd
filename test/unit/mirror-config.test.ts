/** users[].mirrors in the config: defaults, errors that name what was wrong, and check-config's warnings. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { ConfigError, parseConfigText } from "../../src/config/load.ts";
import { configWarnings } from "../../src/config/warnings.ts";
import { mirrorRules } from "../../src/sync/mirror-rules.ts";

const cfg = (mirrors: string): string => `users:
  - username: alice
    password: pw
    sources:
      - { id: home, type: local, calendars: [{ id: personal, name: Personal }, { id: family, name: Family }] }
      - { id: icloud, type: caldav, url: "https://caldav.icloud.com/", username: a, password: b }
    mirrors:
${mirrors}`;

function errorText(mirrors: string): string {
  try {
    parseConfigText(cfg(mirrors), "calgate.yaml", {});
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail("expected the config to be rejected");
}

describe("config: mirror rules", () => {
  test("defaults: busyText Busy, free events left out of busy blocks but kept in full copies, no window", () => {
    const c = parseConfigText(cfg(["      - { from: home/personal, to: icloud/Family, mode: busy }", "      - { from: home/personal, to: home/family, mode: full }"].join("\n")), "calgate.yaml", {});
    assert.deepEqual(c.users[0]!.mirrors![0], { from: "home/personal", to: "icloud/Family", mode: "busy", busyText: "Busy" });
    const rules = mirrorRules(c);
    assert.deepEqual(rules.map((r) => [r.key, r.busyText, r.includeFree, r.window]), [
      ["home/personal -> icloud/Family", "Busy", false, null],
      ["home/personal -> home/family", "Busy", true, null],
    ]);
  });

  test("busyText, includeFree and window are taken as written", () => {
    const c = parseConfigText(cfg('      - { from: home/personal, to: icloud/Family, mode: busy, busyText: "Occupé", includeFree: "true", window: { pastDays: 90, futureDays: 365 } }'), "calgate.yaml", {});
    const [r] = mirrorRules(c);
    assert.deepEqual([r!.busyText, r!.includeFree, r!.window], ["Occupé", true, { pastDays: 90, futureDays: 365 }]);
  });

  test("config.example.yaml's mirror rule, with its optional keys uncommented, is valid", () => {
    const text = readFileSync(new URL("../../config.example.yaml", import.meta.url), "utf8");
    const uncommented = text.replace(/^(\s*)# (busyText|includeFree|window):/gm, "$1$2:").replace(/^\s*#\s+\(default false.*$/m, "");
    assert.notEqual(uncommented, text);
    const env = Object.fromEntries([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => [m[1]!, m[1] === "CALGATE_SECRET_KEY" ? "k".repeat(40) : "x"]));
    const rules = mirrorRules(parseConfigText(uncommented, "config.example.yaml", env));
    assert.deepEqual(rules.map((r) => [r.key, r.mode, r.busyText, r.includeFree, r.window]), [["home/personal -> icloud/Family", "busy", "Busy", false, { pastDays: 90, futureDays: 365 }]]);
  });

  test("errors name the key and what was expected", () => {
    assert.match(errorText("      - { from: home/personal, to: icloud/Family, mode: copy }"), /mirrors\[0\]\.mode: expected mode "busy" or "full"/);
    assert.match(errorText('      - { from: home/personal, to: icloud/Family, mode: busy, busyText: "" }'), /mirrors\[0\]\.busyText: expected a title for busy blocks/);
    assert.match(errorText("      - { from: home/personal, to: icloud/Family, mode: busy, window: { pastDays: -1, futureDays: 10 } }"), /mirrors\[0\]\.window\.pastDays/);
    assert.match(errorText("      - { from: home/personal, to: icloud/Family, mode: busy, window: { past: 1, futureDays: 10 } }"), /mirrors\[0\]\.window.*past/);
    assert.match(errorText("      - { from: home/personal, to: icloud/Family, mode: busy, includeFree: maybe }"), /mirrors\[0\]\.includeFree: expected true or false/);
    assert.match(errorText("      - { from: home/personal, to: icloud/Family, mode: busy, color: red }"), /mirrors\[0\].*color/);
    assert.match(errorText(["      - { from: home/personal, to: icloud/Family, mode: busy }", "      - { from: home/personal, to: icloud/Family, mode: full }"].join("\n")), /mirrors\[1\]: duplicate mirror rule from "home\/personal" to "icloud\/Family" \(also mirrors\[0\]\)/);
    assert.match(errorText("      - { from: home/personal, to: home/personal, mode: busy }"), /cannot copy a calendar into itself/);
    assert.match(errorText("      - { from: home/nope, to: icloud/Family, mode: busy }"), /no calendar "nope" in local source "home"/);
  });

  test("check-config no longer says the rules are ignored; it names a rule whose source this version cannot sync", () => {
    const c = parseConfigText(cfg("      - { from: home/personal, to: icloud/Family, mode: busy }"), "calgate.yaml", {});
    assert.deepEqual(configWarnings(c, () => true), []);
    const w = configWarnings(c, (type) => type !== "caldav");
    assert.ok(w.some((x) => /mirrors\[0\]\.to: "icloud\/Family" is a calendar of a caldav source, which this version does not sync; the rule cannot run/.test(x)), w.join("\n"));
  });
});
