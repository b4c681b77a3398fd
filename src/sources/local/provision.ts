/**
 * Local sources: calendars declared in the config exist in the store as `<source>-<calendar>` under the
 * owner's home. Created on first start; later property changes made by clients (PROPPATCH) win over
 * the config, which only seeds them.
 */
import type { Logger } from "pino";
import type { Config } from "../../config/schema.ts";
import type { CalendarStore } from "../../store/calendars.ts";

export function localCalendarName(sourceId: string, calendarId: string): string {
  return `${sourceId}-${calendarId}`;
}

export async function ensureLocalCalendars(config: Config, store: CalendarStore, log: Logger): Promise<void> {
  for (const user of config.users) {
    for (const source of user.sources) {
      if (source.type !== "local") continue;
      for (const c of source.calendars) {
        const name = localCalendarName(source.id, c.id);
        if (await store.get(user.username, name)) continue;
        await store.create({
          owner: user.username,
          name,
          sourceId: source.id,
          sourceCalendarId: c.id,
          displayname: c.name,
          description: c.description ?? null,
          color: c.color ?? null,
          components: c.components,
        });
        log.info({ user: user.username, calendar: name }, "created local calendar");
      }
    }
  }
}
