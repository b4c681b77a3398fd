/**
 * The read side every part of the Google source shares (adapter, writer, push): the API client, the
 * calendars' time zones, a series by iCalUID, and a series as iCalendar text.
 */
import type { GoogleSourceConfig } from "../../config/schema.ts";
import type { RemoteCalendar, SourceContext } from "../adapter.ts";
import { GoogleApi, type GoogleApiOptions } from "./client.ts";
import { groupSeries, isCancelled, withoutMark, type GEvent, type Series } from "./groups.ts";
import { groupToIcs } from "./translate.ts";

const PAGE = 2500;

export class GoogleReader {
  readonly api: GoogleApi;
  /** Calendar id → its time zone (Google renders times in it; floating times are pinned to it). */
  readonly zones = new Map<string, string>();

  constructor(cfg: GoogleSourceConfig, opts: GoogleApiOptions) {
    this.api = new GoogleApi(cfg, opts);
  }

  async zoneOf(cal: RemoteCalendar, ctx: SourceContext): Promise<string | null> {
    const known = this.zones.get(cal.id);
    if (known) return known;
    const entry = await this.api.call("calendarList.get", "read", (a, o) => a.calendarList.get({ calendarId: cal.id }, o), ctx);
    if (entry.timeZone) this.zones.set(cal.id, entry.timeZone);
    return entry.timeZone ?? null;
  }

  /** iCalendar text of a series, without calgate's write marker. */
  async icsOf(cal: RemoteCalendar, s: Series, ctx: SourceContext): Promise<string> {
    const zone = await this.zoneOf(cal, ctx);
    return groupToIcs({ master: s.master && !isCancelled(s.master) ? withoutMark(s.master) : null, instances: s.instances.map(withoutMark) }, { calendarZone: zone });
  }

  /** One event by id (cancelled ones included, as Google returns them), or null when Google has none. */
  async event(cal: RemoteCalendar, id: string, ctx: SourceContext): Promise<GEvent | null> {
    try {
      return await this.api.call("events.get", "read", (a, o) => a.events.get({ calendarId: cal.id, eventId: id }, o), ctx);
    } catch (e) {
      if ((e as { status?: number }).status === 404 || (e as { status?: number }).status === 410) return null;
      throw e;
    }
  }

  /** Every event with this iCalUID (master, exceptions, cancelled ones), grouped into series. */
  async seriesByUid(cal: RemoteCalendar, uid: string, ctx: SourceContext): Promise<Map<string, Series>> {
    const items: GEvent[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.api.call("events.list", "read", (a, o) => a.events.list({ calendarId: cal.id, iCalUID: uid, showDeleted: true, singleEvents: false, maxResults: PAGE, ...(pageToken ? { pageToken } : {}) }, o), ctx);
      items.push(...(page.items ?? []));
      if (page.timeZone) this.zones.set(cal.id, page.timeZone);
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
    return groupSeries(items);
  }
}
