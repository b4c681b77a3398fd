/**
 * Reads calgate.yaml into a typed Config, once. This module and src/cli/ are the only places that
 * read process.env (passed in as `env`) or configuration files; everything else receives Config.
 *
 * Every problem is reported as `file:line:column: key.path: message`, pointing at the key in the
 * YAML (or its nearest existing parent when the key is missing). Secret values are never echoed.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from "yaml";
import type { z } from "zod";
import { ConfigSchema, NEEDS_SECRET_KEY, SECRET_KEYS, type Config } from "./schema.ts";

export type { Config } from "./schema.ts";

export interface ConfigIssue {
  file: string;
  /** 1-based; 0 when the problem concerns the whole file (e.g. it cannot be read). */
  line: number;
  /** 1-based; 0 when line is 0. */
  column: number;
  /** Dotted key path such as `users[0].sources[1].url`; "" for the document itself. */
  key: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    const sorted = [...issues].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
    super(sorted.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = sorted;
  }
}

/** `calgate.yaml:12:7: users[0].sources[1].url: expected an http(s) URL, got "ftp://x"` */
export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
  return `${where}: ${i.key ? `${i.key}: ` : ""}${i.message}`;
}

type Path = readonly (string | number)[];

export function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  return out;
}

const isSecretPath = (path: Path): boolean => path.some((seg) => typeof seg === "string" && SECRET_KEYS.has(seg));

// ---------------------------------------------------------------------------------------------
// Public entry points

/** Config file to use: the -c flag, else ./calgate.yaml when present, else null (embedded default). */
export function resolveConfigPath(flag: string | undefined, cwd: string): string | null {
  if (flag !== undefined && flag !== "") return resolve(cwd, flag);
  const local = resolve(cwd, "calgate.yaml");
  return existsSync(local) ? local : null;
}

/** Reads and validates a config file. Throws ConfigError listing every problem. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv): Config {
  const file = displayConfigPath(path);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    throw new ConfigError([{ file, line: 0, column: 0, key: "", message: `cannot read config file: ${why}` }]);
  }
  return parse(text, file, env, true);
}

/** Validates config text (no file access); `file` only names it in messages. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv): Config {
  return parse(text, file, env, false);
}

/**
 * The embedded configuration used when there is no config file: SQLite at ./data/calgate.sqlite,
 * one user with one local calendar. Environment: CALGATE_USER (default "calgate"), CALGATE_PASSWORD
 * (generated when unset; returned so `serve` can print it once), CALGATE_HOST, CALGATE_PORT,
 * CALGATE_SECRET_KEY, CALGATE_LOG_LEVEL.
 */
export function defaultConfig(env: NodeJS.ProcessEnv): { config: Config; generatedPassword: string | null } {
  const set = (name: string): string | undefined => (env[name] !== undefined && env[name] !== "" ? env[name] : undefined);
  const generatedPassword = set("CALGATE_PASSWORD") === undefined ? randomBytes(15).toString("base64url") : null;
  const raw = {
    server: { ...(set("CALGATE_HOST") && { host: set("CALGATE_HOST") }), ...(set("CALGATE_PORT") && { port: set("CALGATE_PORT") }) },
    storage: { client: "sqlite", filename: "./data/calgate.sqlite" },
    ...(set("CALGATE_SECRET_KEY") && { secretKey: set("CALGATE_SECRET_KEY") }),
    ...(set("CALGATE_LOG_LEVEL") && { logging: { level: set("CALGATE_LOG_LEVEL") } }),
    users: [
      {
        username: set("CALGATE_USER") ?? "calgate",
        password: set("CALGATE_PASSWORD") ?? generatedPassword,
        sources: [{ id: "local", type: "local", calendars: [{ id: "personal", name: "Personal" }] }],
      },
    ],
  };
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const envName: Record<string, string> = {
      "server.host": "CALGATE_HOST",
      "server.port": "CALGATE_PORT",
      secretKey: "CALGATE_SECRET_KEY",
      "logging.level": "CALGATE_LOG_LEVEL",
      "users[0].username": "CALGATE_USER",
      "users[0].password": "CALGATE_PASSWORD",
    };
    throw new ConfigError(
      result.error.issues.map((iss) => {
        const key = formatPath(iss.path as Path);
        return { file: "(environment)", line: 0, column: 0, key: envName[key] ?? key, message: issueMessage(iss, raw, iss.path as Path) };
      }),
    );
  }
  return { config: result.data, generatedPassword };
}

// ---------------------------------------------------------------------------------------------
// Parsing

function parse(text: string, file: string, env: NodeJS.ProcessEnv, checkFiles: boolean): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false });
  const at = (offset: number | undefined): { line: number; column: number } => {
    if (offset === undefined) return { line: 1, column: 1 };
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };

  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({ file, ...at(e.pos[0]), key: "", message: `YAML syntax error: ${yamlMessage(e.message)}` })));
  }

  const issues: ConfigIssue[] = [];
  const failedPaths = new Set<string>();
  interpolate(doc, env, (path, node, message) => {
    failedPaths.add(formatPath(path));
    issues.push({ file, ...at(node.range?.[0]), key: formatPath(path), message });
  });

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ConfigError([{ file, line: 1, column: 1, key: "", message: `YAML error: ${(e as Error).message}` }]);
  }
  if (data === undefined || data === null) {
    issues.push({ file, line: 1, column: 1, key: "", message: "the file is empty; expected a mapping with at least a users key" });
    throw new ConfigError(issues);
  }

  const result = ConfigSchema.safeParse(data);
  if (!result.success) {
    for (const iss of result.error.issues) {
      for (const { path, message } of expandIssue(iss, data)) {
        const key = formatPath(path);
        if (failedPaths.has(key)) continue; // already reported as an unset variable
        if (message === NEEDS_SECRET_KEY && failedPaths.has("secretKey")) continue; // the same: secretKey's variable is unset
        issues.push({ file, ...at(locate(doc, path)), key, message });
      }
    }
  }
  if (result.success && checkFiles) {
    forEachCaCert(result.data, (path, certPath) => {
      const problem = checkPem(certPath);
      if (problem) issues.push({ file, ...at(locate(doc, path)), key: formatPath(path), message: problem });
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return result.data!;
}

/** yaml's messages without the source excerpt (which could contain a secret). */
function yamlMessage(m: string): string {
  const cut = m.search(/ at line \d+, column \d+/);
  return (cut >= 0 ? m.slice(0, cut) : m).split("\n")[0]!.trim();
}

// ---------------------------------------------------------------------------------------------
// ${VAR} and ${VAR:-default} in string scalars ($${ writes a literal "${")

const REF_RE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;

function interpolate(doc: Document, env: NodeJS.ProcessEnv, fail: (path: Path, node: YamlNode, message: string) => void): void {
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("${")) {
      const errors: string[] = [];
      const value = node.value.replace(REF_RE, (match: string, inner: string | undefined) => {
        if (match === "$${") return "${";
        if (inner === undefined) {
          errors.push('unterminated "${" (write "$${" for a literal "${")');
          return "";
        }
        const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(inner);
        if (!m) {
          errors.push(`malformed variable reference "\${${inner}}" (expected \${NAME} or \${NAME:-default})`);
          return "";
        }
        const [, name, fallback] = m;
        const v = env[name!];
        if (fallback !== undefined) return v === undefined || v === "" ? fallback : v;
        if (v === undefined) {
          errors.push(`environment variable ${name} is not set (set it, or write \${${name}:-default})`);
          return "";
        }
        return v;
      });
      if (errors.length > 0) for (const e of errors) fail(path, node, e);
      node.value = value;
    }
    // Aliases are resolved by toJS from their (already interpolated) anchor.
  };
  walk(doc.contents, []);
}

// ---------------------------------------------------------------------------------------------
// Locations

/** Start offset of the key at `path`, or of its nearest existing ancestor. */
function locate(doc: Document, path: Path): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined = (doc.contents as YamlNode | null)?.range?.[0];
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) break;
      offset = (pair.key as YamlNode | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number" && seg < node.items.length) {
      const item = node.items[seg] as YamlNode | null;
      offset = item?.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}

// ---------------------------------------------------------------------------------------------
// zod issues → messages a person can act on

type Issue = z.core.$ZodIssue;

function valueAt(data: unknown, path: Path): { found: boolean; value: unknown } {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object" || !Object.prototype.hasOwnProperty.call(cur, seg)) return { found: false, value: undefined };
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return { found: true, value: cur };
}

function describeValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (v === null) return "null (empty)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

function expandIssue(iss: Issue, data: unknown): { path: Path; message: string }[] {
  const path = iss.path as Path;
  if (iss.code === "unrecognized_keys") {
    return iss.keys.map((k) => {
      const known = knownKeys(path, data);
      const hint = known ? suggest(k, known) : null;
      return { path: [...path, k], message: `unknown key "${k}"${hint ? ` (did you mean "${hint}"?)` : known ? ` (expected one of: ${known.join(", ")})` : ""}` };
    });
  }
  return [{ path, message: issueMessage(iss, data, path) }];
}

const ownMessage = (m: string): boolean => /^[a-z"$(]/.test(m); // ours are lowercase; zod's defaults are capitalised

function issueMessage(iss: Issue, data: unknown, path: Path): string {
  const { found, value } = valueAt(data, path);
  const last = path[path.length - 1];
  if (!found && (iss.code === "invalid_type" || iss.code === "invalid_union" || iss.code === "invalid_value")) {
    const choices = iss.code === "invalid_union" && "options" in iss && Array.isArray(iss.options) ? ` (one of ${iss.options.map((o) => JSON.stringify(o)).join(", ")})` : "";
    return `missing required key "${String(last)}"${choices}`;
  }
  let message: string;
  if (ownMessage(iss.message)) message = iss.message;
  else
    switch (iss.code) {
      case "invalid_type":
        message = `expected ${iss.expected === "array" ? "a list" : iss.expected === "object" ? "a mapping" : `a ${iss.expected}`}`;
        break;
      case "invalid_value":
        message = `expected ${iss.values.length === 1 ? JSON.stringify(iss.values[0]) : `one of ${iss.values.map((v) => JSON.stringify(v)).join(", ")}`}`;
        break;
      case "too_small":
        message =
          iss.origin === "array"
            ? `expected at least ${iss.minimum} item${iss.minimum === 1 ? "" : "s"}`
            : iss.origin === "string"
              ? `expected at least ${iss.minimum} character${iss.minimum === 1 ? "" : "s"}`
              : `expected a number ${iss.inclusive ? ">=" : ">"} ${iss.minimum}`;
        break;
      case "too_big":
        message =
          iss.origin === "array"
            ? `expected at most ${iss.maximum} items`
            : iss.origin === "string"
              ? `expected at most ${iss.maximum} characters`
              : `expected a number ${iss.inclusive ? "<=" : "<"} ${iss.maximum}`;
        break;
      case "invalid_union":
        message = "expected one of the allowed forms";
        break;
      default:
        message = iss.message;
    }
  if (message.startsWith("expected") && found && !(Array.isArray(value) && iss.code === "too_small")) {
    message += `, got ${isSecretPath(path) ? "<redacted>" : describeValue(value)}`;
  }
  return message;
}

// Keys the schema allows at a path, for "did you mean" hints. Reads zod's public `_zod.def`.
interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  element?: { _zod: { def: Def } };
  innerType?: { _zod: { def: Def } };
  out?: { _zod: { def: Def } };
  options?: { _zod: { def: Def } }[];
  discriminator?: string;
  values?: unknown[];
}

function knownKeys(path: Path, data: unknown): string[] | null {
  let def: Def = (ConfigSchema as unknown as { _zod: { def: Def } })._zod.def;
  let cur: unknown = data;
  const unwrap = (d: Def): Def => {
    for (;;) {
      if (d.innerType && ["optional", "default", "prefault", "nullable", "readonly", "catch", "nonoptional"].includes(d.type)) d = d.innerType._zod.def;
      else if (d.type === "pipe" && d.out) d = d.out._zod.def;
      else return d;
    }
  };
  const pickOption = (d: Def): Def => {
    if (d.type !== "union" || !d.options) return d;
    const disc = d.discriminator;
    const want = disc && cur && typeof cur === "object" ? (cur as Record<string, unknown>)[disc] : undefined;
    for (const o of d.options) {
      const od = unwrap(o._zod.def);
      const lit = disc ? od.shape?.[disc] : undefined;
      if (lit && unwrap(lit._zod.def).values?.includes(want)) return od;
    }
    return d;
  };
  def = pickOption(unwrap(def));
  for (const seg of path) {
    cur = cur && typeof cur === "object" ? (cur as Record<string | number, unknown>)[seg] : undefined;
    if (def.type === "object" && def.shape && typeof seg === "string" && def.shape[seg]) def = def.shape[seg]._zod.def;
    else if (def.type === "array" && def.element && typeof seg === "number") def = def.element._zod.def;
    else return null;
    def = pickOption(unwrap(def));
  }
  return def.type === "object" && def.shape ? Object.keys(def.shape) : null;
}

function suggest(word: string, candidates: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== null && bestD <= Math.max(1, Math.min(3, Math.floor(word.length / 3))) ? best : null;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Files referenced by the config (checked only by loadConfig)

function forEachCaCert(config: Config, f: (path: Path, certPath: string) => void): void {
  if (config.push.caCert !== undefined) f(["push", "caCert"], config.push.caCert);
  config.users.forEach((u, i) =>
    u.sources.forEach((s, j) => {
      if (s.type !== "local" && s.caCert !== undefined) f(["users", i, "sources", j, "caCert"], s.caCert);
    }),
  );
}

function checkPem(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return `cannot read CA certificate file "${path}": ${code === "ENOENT" ? "no such file" : code ?? (e as Error).message} (relative paths are relative to the working directory)`;
  }
  return text.includes("-----BEGIN CERTIFICATE-----") ? null : `expected a PEM file with at least one "-----BEGIN CERTIFICATE-----" block: "${path}"`;
}

/** How a config path is shown in messages: relative to the working directory when inside it. */
export function displayConfigPath(path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(process.cwd(), path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}
