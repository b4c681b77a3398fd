import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError, defaultConfig, loadConfig, parseConfigText, resolveConfigPath } from "../../src/config/load.ts";

const SECRET = "hunter2-very-secret-value";
const KEY = "k".repeat(40);

/** A valid minimal config; tests replace lines of it. */
const base = (extra = ""): string => `users:
  - username: alice
    password: ${SECRET}
    sources:
      - id: home
        type: local
        calendars:
          - id: personal
            name: Personal
${extra}`;

function errorOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfigText(text, "calgate.yaml", env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the config to be rejected");
}

/** Asserts one issue at file:line:key whose message matches, and that the formatted message has that line. */
function assertIssue(err: ConfigError, line: number, key: string, message: RegExp): void {
  const hit = err.issues.find((i) => i.line === line && i.key === key && message.test(i.message));
  assert.ok(hit, `no issue at line ${line} for ${key} matching ${message}; got:\n${err.message}`);
  assert.ok(err.message.split("\n").some((l) => l.startsWith(`calgate.yaml:${line}:${hit.column}: ${key}: `)), err.message);
}

describe("config: defaults", () => {
  test("a minimal file gets every default", () => {
    const c = parseConfigText(base(), "calgate.yaml", {});
    assert.deepEqual(c.server, { host: "127.0.0.1", port: 5232, trustProxy: false, metricsAuth: false, maxBodyBytes: 10 * 1024 * 1024, maxResourceBytes: 2 * 1024 * 1024 });
    assert.deepEqual(c.storage, { client: "sqlite", filename: "./data/calgate.sqlite" });
    assert.deepEqual(c.sync, { schedule: "*/5 * * * *", conflictPolicy: "merge", jitterSeconds: 30, concurrency: 8, writeDeadlineMs: 5000, timeoutMs: 30000 });
    assert.deepEqual(c.logging, { level: "info" });
    assert.equal(c.secretKey, undefined);
    const src = c.users[0]!.sources[0]!;
    assert.equal(src.type, "local");
    if (src.type === "local") assert.deepEqual(src.calendars[0]!.components, ["VEVENT", "VTODO"]);
  });

  test("microsoft tenant defaults to common; six-field cron accepted", () => {
    const c = parseConfigText(
      `secretKey: ${KEY}\nsync: { schedule: "0 */2 * * * *" }\n` +
        base().replace("sources:\n", "sources:\n      - { id: office, type: microsoft, clientId: abc }\n"),
      "calgate.yaml",
      {},
    );
    const ms = c.users[0]!.sources.find((s) => s.type === "microsoft");
    assert.ok(ms && ms.type === "microsoft");
    assert.equal(ms.tenant, "common");
    assert.equal(c.sync.schedule, "0 */2 * * * *");
  });

  test("defaultConfig: generated password, env overrides", () => {
    const a = defaultConfig({});
    assert.equal(a.config.users[0]!.username, "calgate");
    assert.match(a.generatedPassword!, /^[A-Za-z0-9_-]{20}$/);
    assert.equal(a.config.users[0]!.password, a.generatedPassword);
    assert.equal(a.config.storage.filename, "./data/calgate.sqlite");
    assert.deepEqual(a.config.users[0]!.sources, [
      { id: "local", type: "local", calendars: [{ id: "personal", name: "Personal", components: ["VEVENT", "VTODO"] }] },
    ]);
    assert.notEqual(defaultConfig({}).generatedPassword, a.generatedPassword);

    const b = defaultConfig({ CALGATE_USER: "bob", CALGATE_PASSWORD: "pw", CALGATE_PORT: "8080", CALGATE_HOST: "0.0.0.0" });
    assert.equal(b.generatedPassword, null);
    assert.equal(b.config.users[0]!.username, "bob");
    assert.equal(b.config.users[0]!.password, "pw");
    assert.equal(b.config.server.port, 8080);
    assert.equal(b.config.server.host, "0.0.0.0");
    assert.throws(() => defaultConfig({ CALGATE_PORT: "http" }), (e: unknown) => e instanceof ConfigError && /CALGATE_PORT/.test(e.message));
  });
});

describe("config: interpolation", () => {
  test("${VAR} and ${VAR:-default}, numbers from the environment, $${ escape", () => {
    const text = `server:\n  port: \${PORT}\n  host: \${HOST:-0.0.0.0}\n  trustProxy: \${PROXY:-false}\n` +
      base().replace(`password: ${SECRET}`, "password: pre-${PW}-post").replace("name: Personal", () => 'name: "$${NOT_A_VAR} ${EMPTY:-fallback}"');
    const c = parseConfigText(text, "calgate.yaml", { PORT: "8443", PW: "s3", EMPTY: "" });
    assert.equal(c.server.port, 8443);
    assert.equal(c.server.host, "0.0.0.0");
    assert.equal(c.server.trustProxy, false);
    assert.equal(c.users[0]!.password, "pre-s3-post");
    const src = c.users[0]!.sources[0]!;
    assert.ok(src.type === "local");
    assert.equal(src.calendars[0]!.name, "${NOT_A_VAR} fallback");
  });

  test("an unset variable is an error naming the variable, the key and the line", () => {
    const err = errorOf(base().replace(`password: ${SECRET}`, "password: ${ALICE_PASSWORD}"));
    assertIssue(err, 3, "users[0].password", /environment variable ALICE_PASSWORD is not set/);
    assert.equal(err.issues.length, 1, "no follow-up error for the same key");
  });
});

describe("config: errors carry file:line:key", () => {
  test("unknown nested key, with a suggestion", () => {
    const err = errorOf(base().replace("            name: Personal", "            name: Personal\n            colour: red"));
    assertIssue(err, 10, "users[0].sources[0].calendars[0].colour", /unknown key "colour" \(did you mean "color"\?\)/);
  });

  test("unknown top-level key", () => {
    assertIssue(errorOf(`sever:\n  port: 1\n${base()}`), 1, "sever", /unknown key "sever" \(did you mean "server"\?\)/);
  });

  test("wrong type", () => {
    const err = errorOf(`server:\n  port: [1, 2]\n  trustProxy: maybe\n${base()}`);
    assertIssue(err, 2, "server.port", /expected an integer, got a list/);
    assertIssue(err, 3, "server.trustProxy", /expected true or false, got "maybe"/);
  });

  test("missing password and passwordHash → points at the user", () => {
    const err = errorOf(base().replace(`    password: ${SECRET}\n`, ""));
    assertIssue(err, 2, "users[0]", /missing required key password or passwordHash/);
  });

  test("both password and passwordHash", () => {
    const err = errorOf(base().replace(`password: ${SECRET}`, `password: ${SECRET}\n    passwordHash: x`));
    assertIssue(err, 4, "users[0].passwordHash", /set only one of password and passwordHash/);
  });

  test("unknown password hash format is rejected", () => {
    const err = errorOf(base().replace(`password: ${SECRET}`, "passwordHash: $argon2id$v=19$m=65536,t=3,p=4$abc$def"));
    assertIssue(err, 3, "users[0].passwordHash", /unsupported password hash format "argon2id"/);
  });

  test("bad URL, with the offending value", () => {
    const err = errorOf(base("      - { id: ic, type: caldav, url: ftp://x, username: a, password: b }\n"));
    assertIssue(err, 10, "users[0].sources[1].url", /^expected an http\(s\) URL, got "ftp:\/\/x"$/);
    assert.match(err.message, /^calgate\.yaml:10:\d+: users\[0\]\.sources\[1\]\.url: expected an http\(s\) URL, got "ftp:\/\/x"$/m);
  });

  test("missing key of a source → nearest parent", () => {
    const err = errorOf(base("      - id: ic\n        type: caldav\n        username: a\n        password: b\n"));
    assertIssue(err, 10, "users[0].sources[1].url", /missing required key "url"/);
  });

  test("unknown source type", () => {
    const err = errorOf(base("      - { id: x, type: exchange }\n"));
    assertIssue(err, 10, "users[0].sources[1].type", /expected type to be one of "local", "caldav", "google", "microsoft", got "exchange"/);
  });

  test("YAML syntax error gives file:line", () => {
    const err = errorOf(base().replace("            name: Personal", '            name: "Personal'));
    assert.ok(err.issues.length >= 1);
    assert.match(err.message, /^calgate\.yaml:\d+:\d+: YAML syntax error: /m);
    assert.ok(err.issues.every((i) => i.line >= 9), err.message);
  });

  test("duplicate YAML keys are a syntax error", () => {
    const err = errorOf(`logging:\n  level: info\n  level: debug\n${base()}`);
    assert.equal(err.issues[0]!.line, 3);
    assert.match(err.message, /unique/);
  });

  test("duplicate source id", () => {
    const err = errorOf(base("      - { id: home, type: local, calendars: [{ id: a, name: A }] }\n"));
    assertIssue(err, 10, "users[0].sources[1].id", /duplicate source id "home"/);
  });

  test("bad source id, duplicate calendar id, duplicate username", () => {
    const err = errorOf(
      base("      - { id: -bad, type: local, calendars: [{ id: a, name: A }, { id: a, name: B }] }\n") +
        `  - username: alice\n    password: x\n    sources: []\n`,
    );
    assertIssue(err, 10, "users[0].sources[1].id", /expected a source id/);
    assertIssue(err, 11, "users[1].username", /duplicate username "alice"/);
  });

  test("postgres storage needs a connection string; other engines are named", () => {
    assertIssue(errorOf(`storage:\n  client: postgres\n${base()}`), 1, "storage.connection", /^storage.client postgres needs storage.connection/);
    assertIssue(errorOf(`storage:\n  client: mysql\n${base()}`), 2, "storage.client", /expected "sqlite" or "postgres"/);
  });

  test("cron schedule must have 5 or 6 valid fields", () => {
    assertIssue(errorOf(`sync:\n  schedule: "* * *"\n${base()}`), 2, "sync.schedule", /5 fields \(or 6 with seconds\)/);
    assertIssue(errorOf(`sync:\n  schedule: "61 * * * *"\n${base()}`), 2, "sync.schedule", /invalid cron expression/);
  });

  test("google source without secretKey", () => {
    const err = errorOf(base("      - { id: work, type: google, clientId: id, clientSecret: cs }\n"));
    assertIssue(err, 10, "users[0].sources[1].type", /need secretKey/);
  });

  test("merged and mirror references must name existing sources", () => {
    const err = errorOf(base() + `    merged:\n      - { id: all, name: All, include: ["home/*", "nope/*"], writeTo: home/missing }\n    mirrors:\n      - { from: home/personal, to: ghost/x, mode: busy }\n`);
    assertIssue(err, 11, "users[0].merged[0].include[1]", /no source "nope"/);
    assertIssue(err, 11, "users[0].merged[0].writeTo", /no calendar "missing" in local source "home"/);
    assertIssue(err, 13, "users[0].mirrors[0].to", /no source "ghost"/);
  });

  test("every issue is reported, sorted by line", () => {
    const err = errorOf(`server:\n  port: no\nlogging:\n  level: loud\n${base().replace(`    password: ${SECRET}\n`, "")}`);
    assert.deepEqual(err.issues.map((i) => i.line), [2, 4, 6]);
    assert.equal(err.message.split("\n").length, 3);
  });

  test("an empty file", () => {
    assert.match(errorOf("").message, /^calgate\.yaml:1:1: the file is empty/);
  });
});

describe("config: secrets never appear in error text", () => {
  test("wrong-typed or invalid secret values are redacted", () => {
    const text = `secretKey: short-${SECRET}\n` + base("      - { id: work, type: google, clientId: id, clientSecret: [" + SECRET + "] }\n").replace(`password: ${SECRET}`, `password: [${SECRET}]`);
    const err = errorOf(text);
    assert.ok(err.issues.length >= 3, err.message);
    assert.ok(!err.message.includes(SECRET), err.message);
    assert.match(err.message, /secretKey: .*got <redacted>/);
    assert.match(err.message, /users\[0\]\.password: .*got <redacted>/);
    assert.match(err.message, /clientSecret: .*got <redacted>/);
  });

  test("a bad passwordHash and a syntax error next to a secret are redacted too", () => {
    const err = errorOf(base().replace(`password: ${SECRET}`, `passwordHash: $scrypt$${SECRET}`));
    assert.ok(!err.message.includes(SECRET), err.message);
    const syntax = errorOf(base().replace(`password: ${SECRET}`, `password: "${SECRET}\n    oops: [`));
    assert.ok(!syntax.message.includes(SECRET), syntax.message);
  });

  test("a secret from the environment is not echoed", () => {
    const err = errorOf(base().replace(`password: ${SECRET}`, "password: ${PW}").replace("name: Personal", "name: [x]"), { PW: SECRET });
    assert.ok(!err.message.includes(SECRET));
  });
});

describe("config: files", () => {
  const dir = mkdtempSync(join(tmpdir(), "calgate-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("loadConfig reads a file; resolveConfigPath prefers the flag, then ./calgate.yaml", () => {
    assert.equal(resolveConfigPath(undefined, dir), null);
    const file = join(dir, "calgate.yaml");
    writeFileSync(file, base());
    assert.equal(resolveConfigPath(undefined, dir), file);
    assert.equal(resolveConfigPath("other.yaml", dir), join(dir, "other.yaml"));
    assert.equal(loadConfig(file, {}).users[0]!.username, "alice");
  });

  test("a missing file is a ConfigError naming it", () => {
    assert.throws(() => loadConfig(join(dir, "nope.yaml"), {}), (e: unknown) => e instanceof ConfigError && /nope\.yaml: cannot read config file: no such file/.test(e.message));
  });

  test("caCert must be a readable PEM file", () => {
    const file = join(dir, "ca.yaml");
    writeFileSync(file, base(`      - { id: ic, type: caldav, url: "https://x", username: a, password: b, caCert: ${join(dir, "missing.pem")} }\n`));
    assert.throws(() => loadConfig(file, {}), (e: unknown) => e instanceof ConfigError && e.issues[0]!.line === 10 && /cannot read CA certificate file/.test(e.message));
    writeFileSync(join(dir, "ok.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    writeFileSync(file, base(`      - { id: ic, type: caldav, url: "https://x", username: a, password: b, caCert: ${join(dir, "ok.pem")} }\n`));
    assert.equal(loadConfig(file, {}).users[0]!.sources.length, 2);
  });

  test("config.example.yaml parses with the variables it references", () => {
    const text = readFileSync(new URL("../../config.example.yaml", import.meta.url), "utf8");
    const vars = [...new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)(?::-)?\}/g)].map((m) => m[1]!))];
    assert.ok(vars.includes("ALICE_PASSWORD") && vars.includes("CALGATE_SECRET_KEY"), vars.join());
    const env = Object.fromEntries(vars.map((v) => [v, v === "CALGATE_SECRET_KEY" ? KEY : `value-of-${v}`]));
    const c = parseConfigText(text, "config.example.yaml", env);
    assert.equal(c.users[0]!.username, "alice");
    assert.deepEqual(c.users[0]!.sources.map((s) => s.type), ["local", "caldav"]);
    assert.equal(c.server.port, 5232);

    // The commented-out google and microsoft examples are valid too.
    let inBlock = false;
    const uncommented = text
      .split("\n")
      .map((line) => {
        if (/^\s*# - id: (work|office)$/.test(line)) inBlock = true;
        else if (!/^\s*#/.test(line)) inBlock = false;
        return inBlock ? line.replace(/^(\s*)# /, "$1") : line;
      })
      .join("\n");
    const c2 = parseConfigText(uncommented, "config.example.yaml", { ...env, GOOGLE_CLIENT_SECRET: "gcs" });
    assert.deepEqual(c2.users[0]!.sources.map((s) => s.type), ["local", "caldav", "google", "microsoft"]);
  });
});
