/**
 * The calgate configuration schema (zod 4): every key, its default and its documentation.
 * `Config` is the typed object that src/config/load.ts produces and main.ts passes down.
 * Objects are strict: an unknown key is an error, so a typo never silently does nothing.
 *
 * Messages written here are completed by the loader with the offending value
 * (`expected an http(s) URL, got "ftp://x"`), except for secrets, which it redacts.
 */
import { validateDetailed as validateCron } from "node-cron";
import { z } from "zod";
import { hashScheme, isPasswordHash } from "../auth/password.ts";

/** Keys whose values are secret: never echoed in errors or logs. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(["password", "passwordHash", "clientSecret", "secretKey", "connection"]);

const MiB = 1024 * 1024;

/** The loader drops this issue when the secretKey line itself already failed (an unset ${VAR}): one problem, one message. */
export const NEEDS_SECRET_KEY = "google and microsoft sources need secretKey (top level, at least 32 characters; it is unset or empty) to encrypt their tokens at rest";

// ---------------------------------------------------------------------------------------------
// Building blocks

/** `${VAR}` interpolation always yields strings; numbers and booleans accept their decimal/literal text. */
const intText = (v: unknown): unknown => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v);
const boolText = (v: unknown): unknown => (v === "true" ? true : v === "false" ? false : v);

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(intText, z.number({ error: (iss) => (iss.code === "invalid_type" ? "expected an integer" : undefined) }).int({ error: "expected an integer" }).min(min).max(max));
const bool = () => z.preprocess(boolText, z.boolean({ error: (iss) => (iss.code === "invalid_type" ? "expected true or false" : undefined) }));

const ID_RE = /^[a-z0-9][a-z0-9_-]*$/i;
const id = (what: string) =>
  z
    .string({ error: `expected ${what} (letters, digits, "-" and "_", starting with a letter or digit)` })
    .max(64, { error: `expected ${what} of at most 64 characters` })
    .regex(ID_RE, { error: `expected ${what} (letters, digits, "-" and "_", starting with a letter or digit)` });

/** YAML turns unquoted 12345 or yes/true into numbers/booleans; say so instead of a bare type error. */
const stringError = (what: string) => (iss: { code: string; input?: unknown }) =>
  iss.code === "invalid_type" && (typeof iss.input === "number" || typeof iss.input === "boolean")
    ? `expected ${what} as a string (put the value in quotes)`
    : `expected ${what}`;

const nonEmpty = (what = "a non-empty string") => z.string({ error: stringError(what) }).min(1, { error: `expected ${what}` });

const httpUrl = () =>
  z.string({ error: "expected an http(s) URL" }).refine(
    (s) => {
      try {
        const u = new URL(s);
        return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
      } catch {
        return false;
      }
    },
    { error: "expected an http(s) URL" },
  );

const isTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

const caCert = () => nonEmpty("a path to a PEM file").describe(
  "Path to a PEM file with extra CA certificates to trust for this source (e.g. an emulator's test CA). TLS verification stays on.",
);

/** A secret string; the loader redacts its value in every message. */
const secret = (what: string) => nonEmpty(what);

// ---------------------------------------------------------------------------------------------
// Sections

export const ServerSchema = z
  .strictObject({
    host: nonEmpty("a host name or IP address").default("127.0.0.1").describe("Address to listen on. Use 0.0.0.0 (or ::) to accept connections from other machines."),
    port: int(0, 65535).default(5232).describe("TCP port to listen on (0 picks a free port)."),
    publicUrl: httpUrl()
      .optional()
      .describe("The URL clients and providers reach calgate at (behind a reverse proxy, for example). Enables push notifications from Google/Microsoft."),
    trustProxy: bool().default(false).describe("Trust X-Forwarded-For/-Proto/-Host headers. Only set true behind a reverse proxy you control."),
    maxBodyBytes: int(1024).default(10 * MiB).describe("Largest request body accepted, in bytes (default 10 MiB)."),
    maxResourceBytes: int(1024).default(2 * MiB).describe("Largest calendar object (one .ics resource) accepted, in bytes (default 2 MiB); advertised as CALDAV:max-resource-size."),
    metricsAuth: bool()
      .default(false)
      .describe("Ask for a login (any configured user) at /metrics. Off by default: the metrics name sources by id and never a username; set true when calgate listens beyond loopback without a proxy guarding /metrics."),
  })
  .superRefine((s, ctx) => {
    if (s.maxResourceBytes > s.maxBodyBytes)
      ctx.addIssue({ code: "custom", path: ["maxResourceBytes"], message: `must not exceed maxBodyBytes (${s.maxBodyBytes})` });
  })
  .describe("The HTTP(S) listener.");

export const StorageSchema = z
  .strictObject({
    client: z
      .enum(["sqlite", "postgres"], { error: 'expected "sqlite" or "postgres"' })
      .default("sqlite")
      .describe('Database engine: "sqlite" (a file; the default) or "postgres".'),
    filename: nonEmpty("a file path").default("./data/calgate.sqlite").describe("SQLite database file (relative paths are relative to the working directory). Created if missing."),
    connection: secret("a PostgreSQL connection string")
      .optional()
      .describe("PostgreSQL connection string (client: postgres), e.g. postgres://calgate:${PGPASSWORD}@db.example.com/calgate. The database must exist; calgate creates its tables."),
    poolMax: z.number({ error: "expected a number of connections" }).int().min(1).max(200).optional().describe("PostgreSQL: most connections this process opens (default 10)."),
  })
  .superRefine((s, ctx) => {
    if (s.client === "postgres" && s.connection === undefined) ctx.addIssue({ code: "custom", path: ["connection"], message: "storage.client postgres needs storage.connection (a postgres:// connection string)" });
  })
  .describe("Where calgate keeps its cache, change log, write queue and encrypted tokens.");

/** What the store opens for a storage section. */
export function storageTarget(s: z.infer<typeof StorageSchema>): { client: "sqlite"; filename: string } | { client: "postgres"; connection: string; poolMax?: number } {
  return s.client === "postgres" ? { client: "postgres", connection: s.connection!, ...(s.poolMax !== undefined ? { poolMax: s.poolMax } : {}) } : { client: "sqlite", filename: s.filename };
}

export const CONFLICT_POLICIES = ["merge", "upstream-wins", "client-wins", "newest-wins"] as const;

export const SyncSchema = z
  .strictObject({
    schedule: z
      .string({ error: "expected a cron expression" })
      .superRefine((s, ctx) => {
        const fields = s.trim().split(/\s+/).filter(Boolean).length;
        if (fields !== 5 && fields !== 6) {
          ctx.addIssue({ code: "custom", message: `a cron expression has 5 fields (or 6 with seconds); "${s}" has ${fields}` });
          return;
        }
        const r = validateCron(s.trim());
        if (!r.valid) ctx.addIssue({ code: "custom", message: `invalid cron expression: ${r.errors.map((e) => e.message).join("; ")}` });
      })
      .default("*/5 * * * *")
      .describe('When to poll every source, as a cron expression ("m h dom mon dow", optional leading seconds field).'),
    conflictPolicy: z
      .enum(CONFLICT_POLICIES)
      .default("merge")
      .describe("How a change made on both sides is resolved: merge (field-level three-way merge), upstream-wins, client-wins, newest-wins. The losing version is always kept."),
    jitterSeconds: int(0, 3600).default(30).describe("Random delay up to this many seconds added to each scheduled poll, so sources are not hit all at once."),
    concurrency: int(1, 256).default(8).describe("How many scheduled source syncs one calgate process runs at once; the others wait their turn (a requested sync does not wait)."),
    writeDeadlineMs: int(0, 120_000).default(5000).describe("How long a client's PUT/DELETE waits for the upstream before answering from the durable write queue."),
    timeoutMs: int(1000, 600_000).default(30_000).describe("Timeout for each request to an upstream provider."),
  })
  .describe("Polling, conflict resolution and write-through timing.");

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;

export const LoggingSchema = z
  .strictObject({
    level: z.enum(LOG_LEVELS).default("info").describe("Minimum level of the JSON log lines written to stdout."),
  })
  .describe("Logging (pino JSON lines on stdout).");

export const PushSchema = z
  .strictObject({
    allowPrivateEndpoints: bool()
      .default(false)
      .describe("Accept WebDAV-Push resources on loopback or private addresses (a push service inside your own network, or tests). Push resources must be https either way."),
    caCert: nonEmpty("a path to a PEM file")
      .optional()
      .describe("Path to a PEM file with extra CA certificates to trust for push services (e.g. a self-hosted push service with a private CA). TLS verification stays on."),
  })
  .describe("WebDAV-Push to CalDAV clients (DAVx5): on for every calendar; the VAPID key pair is made once and kept in the database.");

/** What a calendar can hold, as MKCALENDAR's supported-calendar-component-set allows (RFC 4791 5.2.3). */
export const COMPONENTS = ["VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"] as const;

export const LocalCalendarSchema = z.strictObject({
  id: id("a calendar id").describe("Stable id; part of the calendar's URL. Never change it once clients have synced."),
  name: nonEmpty("a calendar name").describe("Display name shown by clients."),
  color: z
    .string({ error: 'expected a color like "#3b82f6" or "#3b82f6ff"' })
    .regex(/^#[0-9a-f]{6}([0-9a-f]{2})?$/i, { error: 'expected a color like "#3b82f6" or "#3b82f6ff"' })
    .optional()
    .describe('Calendar color, "#rrggbb" or "#rrggbbaa".'),
  description: z.string({ error: "expected a string" }).optional().describe("Calendar description."),
  timezone: z
    .string({ error: 'expected an IANA time zone such as "Europe/Berlin"' })
    .refine(isTimeZone, { error: 'expected an IANA time zone such as "Europe/Berlin"' })
    .optional()
    .describe("Default time zone of the calendar (IANA name)."),
  components: z
    .array(z.enum(COMPONENTS), { error: "expected a list of VEVENT, VTODO, VJOURNAL, VFREEBUSY" })
    .min(1)
    .default(["VEVENT", "VTODO"])
    .describe("Component types the calendar accepts."),
});

export const LocalSourceSchema = z
  .strictObject({
    id: id("a source id").describe("Source id, unique per user; calendars are addressed as <source>/<calendar>."),
    type: z.literal("local"),
    calendars: z.array(LocalCalendarSchema, { error: "expected a list of calendars" }).min(1).describe("Calendars stored only in calgate."),
  })
  .describe("Calendars that live only in calgate's database.");

export const CaldavSourceSchema = z
  .strictObject({
    id: id("a source id"),
    type: z.literal("caldav"),
    url: httpUrl().describe("CalDAV server URL (principal, home or server root; discovery finds the calendars)."),
    username: nonEmpty("a user name").describe("User name at the CalDAV server."),
    password: secret("a password").describe("Password (often an app-specific password) at the CalDAV server. Use ${ENV_VAR}."),
    caCert: caCert().optional(),
    conflictPolicy: z.enum(CONFLICT_POLICIES).optional().describe("How a change made on both sides is resolved for this source; sync.conflictPolicy when absent."),
    include: z.array(nonEmpty("a calendar name glob")).optional().describe('Only calendars whose display name matches one of these globs ("*" and "?"); all when absent.'),
    timeoutMs: int(1000, 600_000).optional().describe("Per-request timeout for this source; sync.timeoutMs when absent."),
  })
  .describe("Any CalDAV server: iCloud, Fastmail, Nextcloud, Radicale, ...");

export const GoogleSourceSchema = z
  .strictObject({
    id: id("a source id"),
    type: z.literal("google"),
    clientId: nonEmpty("an OAuth client id").describe("OAuth client id (Desktop app) from the Google Cloud console."),
    clientSecret: secret("an OAuth client secret").describe("OAuth client secret. Use ${ENV_VAR}."),
    apiUrl: httpUrl()
      .refine((u) => /\/calendar\/v3\/?$/.test(u), { message: "expected the Calendar API base URL, ending with /calendar/v3 (e.g. https://www.googleapis.com/calendar/v3)" })
      .optional()
      .describe("Calendar API base URL override (emulators); default https://www.googleapis.com/calendar/v3."),
    authUrl: httpUrl().optional().describe("OAuth authorization endpoint override; default https://accounts.google.com/o/oauth2/v2/auth."),
    tokenUrl: httpUrl().optional().describe("OAuth token endpoint override; default https://oauth2.googleapis.com/token."),
    caCert: caCert().optional(),
    conflictPolicy: z.enum(CONFLICT_POLICIES).optional().describe("How a change made on both sides is resolved for this source; sync.conflictPolicy when absent."),
    calendars: z.array(nonEmpty("a calendar id or name")).optional().describe("Only these calendars (ids or names); all of the account's calendars when absent."),
    testingApp: bool().optional().describe("True when the OAuth app is in Testing publishing status (Google Cloud console): Google then expires refresh tokens after 7 days, and calgate warns on the status feed two days before."),
  })
  .describe("A Google Calendar account, via the Calendar API. Run `calgate auth google <id>` once.");

export const MicrosoftSourceSchema = z
  .strictObject({
    id: id("a source id"),
    type: z.literal("microsoft"),
    clientId: nonEmpty("an application (client) id").describe("Application (client) id of an Entra ID app registration with public client flows enabled."),
    tenant: nonEmpty("a tenant id or name").default("common").describe('Tenant: "common", "consumers", "organizations" or a tenant id/domain.'),
    apiUrl: httpUrl().optional().describe("Microsoft Graph base URL override (emulators); default https://graph.microsoft.com/v1.0."),
    authority: httpUrl().optional().describe("Identity platform authority override; default https://login.microsoftonline.com."),
    caCert: caCert().optional(),
    conflictPolicy: z.enum(CONFLICT_POLICIES).optional().describe("How a change made on both sides is resolved for this source; sync.conflictPolicy when absent."),
    calendars: z.array(nonEmpty("a calendar id or name")).optional().describe("Only these calendars (ids or names; \"primary\" is the default calendar); all of the mailbox's calendars when absent."),
    window: z
      .strictObject({
        pastDays: int(1, 3650).default(365).describe("Days before today that are synced (default 365)."),
        futureDays: int(1, 3650).default(730).describe("Days after today that are synced (default 730)."),
      })
      .prefault({})
      .describe("Graph syncs a time window (calendarView delta); it slides forward by itself. Events that leave it stay in calgate as they were."),
  })
  .describe("A Microsoft 365 / Outlook.com account, via Microsoft Graph. Run `calgate auth microsoft <id>` once.");

export const SOURCE_TYPES = ["local", "caldav", "google", "microsoft"] as const;

export const SourceSchema = z.discriminatedUnion("type", [LocalSourceSchema, CaldavSourceSchema, GoogleSourceSchema, MicrosoftSourceSchema], {
  error: (iss) => (iss.code === "invalid_union" ? `expected type to be one of ${SOURCE_TYPES.map((t) => `"${t}"`).join(", ")}` : undefined),
});

const calendarRef = (what: string) =>
  z
    .string({ error: `expected ${what} as "<source-id>/<calendar-id>"` })
    .regex(/^[^/\s]+\/[^/]+$/, { error: `expected ${what} as "<source-id>/<calendar-id>"` });

export const MergedSchema = z.strictObject({
  id: id("a calendar id").describe("Id of the merged calendar (shown next to the user's other calendars)."),
  name: nonEmpty("a calendar name").describe("Display name."),
  include: z
    .array(calendarRef("a calendar pattern"), { error: 'expected a list of "<source-id>/<calendar-glob>" patterns' })
    .min(1)
    .describe('Calendars to combine, as "<source-id>/<calendar-glob>", e.g. "work/*".'),
  writeTo: calendarRef("a calendar").optional().describe("Where events created in the merged calendar go; when absent, new events are refused (edits of members still go to their calendars)."),
});

export const MIRROR_MODES = ["busy", "full"] as const;

export const MirrorSchema = z.strictObject({
  from: calendarRef("a calendar").describe('Calendar to copy from, "<source-id>/<calendar-id>".'),
  to: calendarRef("a calendar").describe('Calendar to copy into, "<source-id>/<calendar-id>".'),
  mode: z
    .enum(MIRROR_MODES, { error: 'expected mode "busy" or "full"' })
    .describe('"busy": time blocks titled busyText, with no other details (CLASS:PRIVATE); "full": the whole event, without attendees, organizer and alarms.'),
  busyText: nonEmpty("a title for busy blocks").max(200, { error: "expected a title for busy blocks of at most 200 characters" }).default("Busy").describe('SUMMARY of the busy blocks (mode busy); default "Busy".'),
  includeFree: bool()
    .optional()
    .describe("Copy events marked free (TRANSP:TRANSPARENT) too; they keep their transparency. Default false in busy mode (free time blocks nothing), true in full mode."),
  window: z
    .strictObject({
      pastDays: int(0, 3650).describe("Events that ended more than this many days ago are not copied."),
      futureDays: int(1, 3650).describe("Events that start more than this many days ahead are not copied."),
    }, { error: "expected a window like { pastDays: 90, futureDays: 365 }" })
    .optional()
    .describe("Only events whose occurrences reach into this window (relative to now) are copied; a recurring series is copied whole. No bound when absent."),
});

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export const UserSchema = z
  .strictObject({
    username: z
      .string({ error: "expected a user name" })
      .min(1, { error: "expected a user name of 1 to 64 characters" })
      .max(64, { error: "expected a user name of 1 to 64 characters" })
      .regex(/^[^/\s]+$/, { error: 'expected a user name without "/" or spaces' })
      .describe("Login name for CalDAV clients; part of the URLs."),
    password: secret("a password").optional().describe("Login password in plain text; prefer ${ENV_VAR}. Exactly one of password and passwordHash."),
    passwordHash: z
      .string({ error: "expected a hash from `calgate hash-password`" })
      .superRefine((s, ctx) => {
        if (isPasswordHash(s)) return;
        const scheme = hashScheme(s);
        ctx.addIssue({
          code: "custom",
          message:
            scheme && scheme !== "scrypt"
              ? `unsupported password hash format "${scheme}"; create one with \`calgate hash-password\``
              : "expected a hash from `calgate hash-password` ($scrypt$ln=15,r=8,p=1$...)",
        });
      })
      .optional()
      .describe("Output of `calgate hash-password`. Exactly one of password and passwordHash."),
    sources: z.array(SourceSchema, { error: "expected a list of sources" }).describe("Where this user's calendars come from."),
    merged: z.array(MergedSchema, { error: "expected a list of merged calendars" }).optional().describe("Calendars that combine several others."),
    mirrors: z.array(MirrorSchema, { error: "expected a list of mirror rules" }).optional().describe("Rules copying events (or just busy blocks) from one calendar to another."),
  })
  .superRefine(checkUser, { when: (p) => isRecord(p.value) });

function checkUser(u: Record<string, unknown>, ctx: z.RefinementCtx): void {
  // Written defensively: this runs even when other keys of the user failed to parse.
  if (u.password === undefined && u.passwordHash === undefined)
    ctx.addIssue({ code: "custom", path: [], message: "missing required key password or passwordHash" });
  else if (u.password !== undefined && u.passwordHash !== undefined)
    ctx.addIssue({ code: "custom", path: ["passwordHash"], message: "set only one of password and passwordHash" });

  const sources = Array.isArray(u.sources) ? u.sources : [];
  const byId = new Map<string, { index: number; type: unknown; calendars: Set<string> | null }>();
  sources.forEach((s, index) => {
    if (!isRecord(s) || typeof s.id !== "string") return;
    const prev = byId.get(s.id.toLowerCase());
    if (prev) {
      ctx.addIssue({ code: "custom", path: ["sources", index, "id"], message: `duplicate source id "${s.id}" (also sources[${prev.index}])` });
      return;
    }
    let calendars: Set<string> | null = null;
    if (s.type === "local" && Array.isArray(s.calendars)) {
      calendars = new Set();
      s.calendars.forEach((c, ci) => {
        if (!isRecord(c) || typeof c.id !== "string") return;
        if (calendars!.has(c.id.toLowerCase()))
          ctx.addIssue({ code: "custom", path: ["sources", index, "calendars", ci, "id"], message: `duplicate calendar id "${c.id}" in source "${s.id}"` });
        calendars!.add(c.id.toLowerCase());
      });
    }
    byId.set(s.id.toLowerCase(), { index, type: s.type, calendars });
  });

  /** Checks "<source>/<calendar>" against the sources above; calendar ids are only known for local sources. */
  const checkRef = (ref: unknown, path: (string | number)[], glob: boolean): void => {
    if (typeof ref !== "string") return;
    const slash = ref.indexOf("/");
    if (slash < 1) return; // the schema reports the shape
    const src = ref.slice(0, slash);
    const cal = ref.slice(slash + 1);
    if (/[*?[]/.test(src)) return;
    const found = byId.get(src.toLowerCase());
    if (!found) {
      ctx.addIssue({ code: "custom", path, message: `no source "${src}" for this user (known: ${[...byId.keys()].join(", ") || "none"})` });
      return;
    }
    if (found.calendars && !(glob && /[*?[]/.test(cal)) && !found.calendars.has(cal.toLowerCase()))
      ctx.addIssue({ code: "custom", path, message: `no calendar "${cal}" in local source "${src}"` });
  };

  const names = new Set<string>();
  const merged = Array.isArray(u.merged) ? u.merged : [];
  merged.forEach((m, i) => {
    if (!isRecord(m)) return;
    if (typeof m.id === "string") {
      if (names.has(m.id.toLowerCase())) ctx.addIssue({ code: "custom", path: ["merged", i, "id"], message: `duplicate merged calendar id "${m.id}"` });
      else if (byId.has(m.id.toLowerCase()))
        ctx.addIssue({ code: "custom", path: ["merged", i, "id"], message: `merged calendar id "${m.id}" is already a source id` });
      names.add(m.id.toLowerCase());
    }
    if (Array.isArray(m.include)) m.include.forEach((p, j) => checkRef(p, ["merged", i, "include", j], true));
    checkRef(m.writeTo, ["merged", i, "writeTo"], false);
  });
  const mirrors = Array.isArray(u.mirrors) ? u.mirrors : [];
  const rules = new Map<string, number>();
  mirrors.forEach((m, i) => {
    if (!isRecord(m)) return;
    checkRef(m.from, ["mirrors", i, "from"], false);
    checkRef(m.to, ["mirrors", i, "to"], false);
    if (typeof m.from === "string" && m.from === m.to) ctx.addIssue({ code: "custom", path: ["mirrors", i, "to"], message: "a mirror cannot copy a calendar into itself" });
    if (typeof m.from === "string" && typeof m.to === "string") {
      const key = `${m.from} -> ${m.to}`;
      const prev = rules.get(key);
      if (prev !== undefined) ctx.addIssue({ code: "custom", path: ["mirrors", i], message: `duplicate mirror rule from "${m.from}" to "${m.to}" (also mirrors[${prev}])` });
      else rules.set(key, i);
    }
  });
}

export const ConfigSchema = z
  .strictObject({
    server: ServerSchema.prefault({}),
    storage: StorageSchema.prefault({}),
    // Empty counts as unset, so `${CALGATE_SECRET_KEY:-}` works until a source needs a key. One check
    // (not non-empty and then long enough), so one problem gives one message.
    secretKey: z
      .preprocess(
        (v) => (v === "" ? undefined : v),
        z.string({ error: stringError("a secret key") }).min(32, { error: "expected a secret key of at least 32 characters (e.g. `openssl rand -base64 32`)" }).optional(),
      )
      .describe("Encrypts provider tokens at rest. Required when any google or microsoft source is configured; empty means unset. Use ${ENV_VAR}."),
    sync: SyncSchema.prefault({}),
    logging: LoggingSchema.prefault({}),
    push: PushSchema.prefault({}),
    users: z.array(UserSchema, { error: "expected a list of users" }).min(1, { error: "expected at least one user" }).describe("Who may log in, and their sources."),
  })
  .superRefine(
    (c, ctx) => {
      const users = Array.isArray(c.users) ? c.users : [];
      const seen = new Map<string, number>();
      let needsKey: (string | number)[] | null = null;
      users.forEach((u, i) => {
        if (!isRecord(u)) return;
        if (typeof u.username === "string") {
          const prev = seen.get(u.username.toLowerCase());
          if (prev !== undefined) ctx.addIssue({ code: "custom", path: ["users", i, "username"], message: `duplicate username "${u.username}" (also users[${prev}])` });
          else seen.set(u.username.toLowerCase(), i);
        }
        if (Array.isArray(u.sources))
          u.sources.forEach((s, j) => {
            if (!needsKey && isRecord(s) && (s.type === "google" || s.type === "microsoft")) needsKey = ["users", i, "sources", j, "type"];
          });
      });
      if (needsKey && c.secretKey === undefined)
        ctx.addIssue({ code: "custom", path: needsKey, message: NEEDS_SECRET_KEY });
    },
    { when: (p) => isRecord(p.value) },
  );

export type Config = z.infer<typeof ConfigSchema>;
export type ServerConfig = Config["server"];
export type StorageConfig = Config["storage"];
export type SyncConfig = Config["sync"];
export type LogLevel = Config["logging"]["level"];
export type PushConfig = Config["push"];
export type UserConfig = Config["users"][number];
export type SourceConfig = UserConfig["sources"][number];
export type LocalSourceConfig = Extract<SourceConfig, { type: "local" }>;
export type CaldavSourceConfig = Extract<SourceConfig, { type: "caldav" }>;
export type GoogleSourceConfig = Extract<SourceConfig, { type: "google" }>;
export type MicrosoftSourceConfig = Extract<SourceConfig, { type: "microsoft" }>;
export type LocalCalendarConfig = LocalSourceConfig["calendars"][number];
export type MergedConfig = NonNullable<UserConfig["merged"]>[number];
export type MirrorConfig = NonNullable<UserConfig["mirrors"]>[number];
export type ConflictPolicyName = SyncConfig["conflictPolicy"];
