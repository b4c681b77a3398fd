/**
 * Accounts, calendars and calendarList entries (reference §1: calendarList.list, calendars.get).
 */
import { E } from "./errors.ts";
import type { AccessRole, Calendar, Json, ListEntry, Store } from "./store.ts";
import { bool, int, one, signature, type Pager, type Query } from "./sync.ts";
import { hashId, randomBase32hex } from "./util.ts";

/** Google's calendar colour palette (colors.get().calendar). */
const PALETTE: Record<string, string> = {
  "1": "#ac725e", "2": "#d06b64", "3": "#f83a22", "4": "#fa573c", "5": "#ff7537", "6": "#ffad46",
  "7": "#42d692", "8": "#16a765", "9": "#7bd148", "10": "#b3dc6c", "11": "#fbe983", "12": "#fad165",
  "13": "#92e1c0", "14": "#9fe1e7", "15": "#9fc6e7", "16": "#4986e7", "17": "#9a9cff", "18": "#b99aff",
  "19": "#c2c2c2", "20": "#cabdbf", "21": "#cca6ac", "22": "#f691b2", "23": "#cd74e6", "24": "#a47ae2",
};

/** colors.get().event */
const EVENT_PALETTE: Record<string, string> = {
  "1": "#a4bdfc", "2": "#7ae7bf", "3": "#dbadff", "4": "#ff887c", "5": "#fbd75b", "6": "#ffb878",
  "7": "#46d6db", "8": "#e1e1e1", "9": "#5484ed", "10": "#51b749", "11": "#dc2127",
};

/** colors.get: the static palettes behind calendar and event colorId values. */
export function colors(): Json {
  const map = (p: Record<string, string>, fg: string) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, { background: v, foreground: fg }]));
  return { kind: "calendar#colors", updated: "2012-02-14T00:00:00.000Z", calendar: map(PALETTE, "#1d1d1d"), event: map(EVENT_PALETTE, "#1d1d1d") };
}

const ROLE_RANK: Record<AccessRole, number> = { freeBusyReader: 0, reader: 1, writer: 2, owner: 3 };

export interface NewCalendar {
  id?: string;
  summary: string;
  timeZone?: string;
  accessRole?: AccessRole;
  backgroundColor?: string;
  colorId?: string;
  description?: string;
  /** calendarList entry only: hidden from the list unless showHidden (or a sync token) */
  hidden?: boolean;
  /** calendarList entry only: the user's own name for the calendar */
  summaryOverride?: string;
}

export class Calendars {
  constructor(
    private readonly store: Store,
    private readonly pager: Pager,
  ) {}

  addAccount(email: string, timeZone = "UTC"): void {
    if (this.store.accounts.has(email)) throw new Error(`account ${email} exists`);
    this.store.accounts.set(email, { email, timeZone });
    this.store.calendars.set(email, { id: email, owner: email, summary: email, description: "", timeZone, etagNum: this.store.nextEtagNum() });
    this.subscribe(email, email, { accessRole: "owner", primary: true, colorId: "14", defaultReminders: [{ method: "popup", minutes: 30 }] });
  }

  private subscribe(email: string, calendarId: string, o: { accessRole: AccessRole; primary?: boolean; colorId?: string; backgroundColor?: string; defaultReminders?: ListEntry["defaultReminders"] }): void {
    const colorId = o.colorId ?? String(1 + (hashId(calendarId).charCodeAt(0) % 24));
    const entry: ListEntry = {
      calendarId, email, accessRole: o.accessRole, colorId,
      backgroundColor: o.backgroundColor ?? PALETTE[colorId] ?? "#9fc6e7", foregroundColor: "#000000",
      primary: o.primary ?? false, selected: true, hidden: false, deleted: false,
      defaultReminders: o.defaultReminders ?? (o.accessRole === "owner" || o.accessRole === "writer" ? [{ method: "popup", minutes: 30 }] : []),
      seq: this.store.nextSeq(), etagNum: this.store.nextEtagNum(),
    };
    this.store.accountEntries(email).set(calendarId, entry);
  }

  /** A calendar created (or shared with the account) in Google's web UI; returns its id. */
  addCalendar(email: string, c: NewCalendar): string {
    const account = this.store.accounts.get(email);
    if (!account) throw new Error(`unknown account ${email}`);
    const id = c.id ?? `${randomBase32hex(this.store.opts.rng, 26)}@group.calendar.google.com`;
    const role = c.accessRole ?? "owner";
    const existing = this.store.calendars.get(id);
    if (!existing) {
      this.store.calendars.set(id, {
        id, owner: role === "owner" ? email : `owner-of-${id}`, summary: c.summary, description: c.description ?? "",
        timeZone: c.timeZone ?? account.timeZone, etagNum: this.store.nextEtagNum(),
      });
    }
    this.subscribe(email, id, { accessRole: role, ...(c.colorId ? { colorId: c.colorId } : {}), ...(c.backgroundColor ? { backgroundColor: c.backgroundColor } : {}) });
    const entry = this.store.accountEntries(email).get(id)!;
    if (c.hidden) entry.hidden = true;
    if (c.summaryOverride !== undefined) entry.summaryOverride = c.summaryOverride;
    return id;
  }

  /** Unsubscribes: the calendarList entry is deleted (surfaces as deleted:true in sync). */
  removeCalendar(email: string, calendarId: string): void {
    const entry = this.store.accountEntries(email).get(calendarId);
    if (!entry || entry.deleted) throw new Error(`${email} has no calendar ${calendarId}`);
    entry.deleted = true;
    entry.seq = this.store.nextSeq();
    entry.etagNum = this.store.nextEtagNum();
  }

  /** The live entry through which `email` sees a calendar (404 otherwise). */
  access(email: string, calendarId: string): { cal: Calendar; entry: ListEntry } {
    const cal = this.store.calendars.get(calendarId);
    const entry = this.store.accountEntries(email).get(calendarId);
    if (!cal || !entry || entry.deleted) throw E.notFound();
    return { cal, entry };
  }

  renderEntry(e: ListEntry): Json {
    if (e.deleted) return { kind: "calendar#calendarListEntry", etag: `"${e.etagNum}"`, id: e.calendarId, deleted: true };
    const cal = this.store.calendars.get(e.calendarId)!;
    const out: Json = { kind: "calendar#calendarListEntry", etag: `"${e.etagNum}"`, id: cal.id, summary: cal.summary };
    if (e.summaryOverride !== undefined) out.summaryOverride = e.summaryOverride;
    Object.assign(out, {
      description: cal.description, timeZone: cal.timeZone, colorId: e.colorId, backgroundColor: e.backgroundColor,
      foregroundColor: e.foregroundColor, selected: e.selected, accessRole: e.accessRole, defaultReminders: e.defaultReminders,
    });
    if (e.hidden) out.hidden = true;
    if (e.primary) {
      out.primary = true;
      out.notificationSettings = { notifications: [{ type: "eventCreation", method: "email" }, { type: "eventChange", method: "email" }, { type: "eventCancellation", method: "email" }, { type: "eventResponse", method: "email" }] };
    }
    out.conferenceProperties = { allowedConferenceSolutionTypes: ["hangoutsMeet"] };
    return out;
  }

  /** calendarList.list (§1): paging, minAccessRole, showDeleted/showHidden, syncToken. */
  list(email: string, q: Query): Json {
    const syncToken = one(q, "syncToken");
    const minRole = one(q, "minAccessRole") as AccessRole | undefined;
    if (minRole !== undefined && !(minRole in ROLE_RANK)) throw E.invalid(`Invalid value for minAccessRole: ${minRole}`, "minAccessRole");
    let since: number | undefined;
    if (syncToken !== undefined) {
      if (minRole !== undefined) throw E.invalid("The minAccessRole parameter cannot be used together with syncToken.", "minAccessRole");
      const st = this.store.syncTokens.get(syncToken);
      if (!st || st.kind !== "calendarList" || st.key !== email || st.gen !== this.store.generation(email)) throw E.fullSyncRequired();
      since = st.seq;
    }
    // With a sync token deleted and hidden entries are always returned (§1).
    const showDeleted = since !== undefined || (bool(q, "showDeleted") ?? false);
    const showHidden = since !== undefined || (bool(q, "showHidden") ?? false);
    const maxResults = int(q, "maxResults", 100, 250);
    const page = this.pager.page(signature("calendarList", email, q), one(q, "pageToken"), maxResults, () => {
      const snapshotSeq = this.store.currentSeq();
      const items = [...this.store.accountEntries(email).values()]
        .filter((e) => since === undefined || e.seq > since)
        .filter((e) => showDeleted || !e.deleted)
        .filter((e) => showHidden || !e.hidden)
        .filter((e) => minRole === undefined || ROLE_RANK[e.accessRole] >= ROLE_RANK[minRole])
        .map((e) => this.renderEntry(e));
      return { items, final: { nextSyncToken: this.store.issueSyncToken({ kind: "calendarList", key: email, seq: snapshotSeq, filters: {} }) } };
    });
    const out: Json = { kind: "calendar#calendarList", etag: `"p3${hashId(`${email}|${this.store.currentSeq()}`, 14)}"` };
    if (page.nextPageToken !== undefined) out.nextPageToken = page.nextPageToken;
    if (page.nextSyncToken !== undefined) out.nextSyncToken = page.nextSyncToken;
    out.items = page.items;
    return out;
  }

  renderCalendar(cal: Calendar): Json {
    return {
      kind: "calendar#calendar", etag: `"${cal.etagNum}"`, id: cal.id, summary: cal.summary, description: cal.description,
      timeZone: cal.timeZone, conferenceProperties: { allowedConferenceSolutionTypes: ["hangoutsMeet"] },
    };
  }
}
