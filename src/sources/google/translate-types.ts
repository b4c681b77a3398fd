/** Types shared by the translate-*.ts modules (re-exported by translate.ts, the entry points). */
import type { calendar_v3 } from "@googleapis/calendar";

export type GEvent = calendar_v3.Schema$Event;
export type GDateTime = calendar_v3.Schema$EventDateTime;

/** The iCalendar object cannot be represented at Google; the message names the property and why. */
export class TranslateRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TranslateRefused";
  }
}
