/**
 * Mailboxes and their calendars (reference §1: calendar resource with color enum, hexColor,
 * canEdit, owner, isDefaultCalendar, changeKey...). Every account starts with "Calendar".
 */
import { E } from "./errors.ts";
import type { Account, Identity } from "./identity.ts";
import { parseId, type Calendar, type Json, type Store } from "./store.ts";

export const COLORS = ["auto", "lightBlue", "lightGreen", "lightOrange", "lightGray", "lightYellow", "lightTeal", "lightPink", "lightBrown", "lightRed", "maxColor"] as const;
const HEX: Record<string, string> = {
  auto: "", lightBlue: "#a6d1f5", lightGreen: "#87d28e", lightOrange: "#fcab73", lightGray: "#c0c0c0", lightYellow: "#f4d07a",
  lightTeal: "#a8e8df", lightPink: "#cba6f5", lightBrown: "#e1b99c", lightRed: "#f9a09e", maxColor: "",
};

export interface NewCalendar {
  name: string;
  color?: string;
  hexColor?: string;
  canEdit?: boolean;
  owner?: string;
}

export class Calendars {
  constructor(
    private readonly store: Store,
    private readonly identity: Identity,
  ) {}

  account(upn: string): Account {
    const a = this.identity.accounts.get(upn);
    if (!a) throw new Error(`Graph emulator: unknown account ${upn}`);
    return a;
  }

  addAccount(upn: string, timeZone: string): void {
    if (this.identity.accounts.has(upn)) throw new Error(`Graph emulator: account ${upn} exists`);
    this.identity.addAccount(upn, timeZone);
    this.add(upn, { name: "Calendar" }, true);
  }

  add(upn: string, c: NewCalendar, isDefault = false): string {
    const acct = this.account(upn);
    const color = c.color ?? "auto";
    if (!(COLORS as readonly string[]).includes(color)) throw new Error(`Graph emulator: calendar color must be one of ${COLORS.join(", ")}`);
    const ownerAddress = c.owner ?? upn;
    const cal: Calendar = {
      id: this.store.newId("calendar", upn), upn, name: c.name, color, hexColor: c.hexColor ?? HEX[color] ?? "",
      canEdit: c.canEdit ?? true, owner: { name: ownerAddress === upn ? acct.displayName : ownerAddress.split("@")[0]!, address: ownerAddress },
      isDefault, changeKey: this.store.newChangeKey(),
    };
    this.store.calendars.set(cal.id, cal);
    return cal.id;
  }

  remove(upn: string, calendarId: string): void {
    const cal = this.store.calendars.get(calendarId);
    if (!cal || cal.upn !== upn) throw new Error(`Graph emulator: ${upn} has no calendar ${calendarId}`);
    if (cal.isDefault) throw new Error("Graph emulator: the default calendar cannot be removed");
    for (const ev of this.store.calendarEvents(calendarId)) this.store.remove(ev);
    this.store.calendars.delete(calendarId);
  }

  list(upn: string): Calendar[] {
    return this.store.calendarsOf(upn);
  }

  /** A calendar of `upn` by id: malformed id → 400 ErrorInvalidIdMalformed, unknown → 404. */
  get(upn: string, id: string): Calendar {
    if (parseId(id, upn)?.kind !== "calendar") throw E.idMalformed();
    const cal = this.store.calendars.get(id);
    if (!cal || cal.upn !== upn) throw E.notFound();
    return cal;
  }

  defaultOf(upn: string): Calendar {
    const c = this.store.defaultCalendar(upn);
    if (!c) throw E.notFound();
    return c;
  }

  render(c: Calendar): Json {
    return {
      id: c.id,
      name: c.name,
      color: c.color,
      hexColor: c.hexColor,
      groupClassId: "0006f0b7-0000-0000-c000-000000000046",
      isDefaultCalendar: c.isDefault,
      changeKey: c.changeKey,
      canShare: c.canEdit && c.owner.address === c.upn,
      canViewPrivateItems: c.owner.address === c.upn,
      canEdit: c.canEdit,
      allowedOnlineMeetingProviders: ["teamsForBusiness"],
      defaultOnlineMeetingProvider: "teamsForBusiness",
      isTallyingResponses: true,
      isRemovable: !c.isDefault,
      owner: { name: c.owner.name, address: c.owner.address },
    };
  }
}
