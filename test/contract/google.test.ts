/**
 * The SourceAdapter contract for the Google adapter, against the Google Calendar API emulator
 * (test/emulators/google) through the official client libraries. Every test gets a fresh calendar.
 * Google keys events by iCalUID, not by a name: the "other client" (Google's web UI, played by the
 * emulator's in-process API) finds the item of a name through the UID the contract derives from it.
 */
import { after, before, describe } from "node:test";
import type { GoogleSourceConfig } from "../../src/config/schema.ts";
import { GoogleAdapter } from "../../src/sources/google/adapter.ts";
import { icsToPlan } from "../../src/sources/google/translate.ts";
import { startGoogleEmulator, type GoogleEmulator } from "../emulators/google/index.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";
import { adapterContract, type AdapterFixture } from "./source-adapter.ts";

const EMAIL = "contract@example.com";
const CLIENT = { clientId: "contract.apps.googleusercontent.com", clientSecret: "contract-secret" };
const uidOfName = (name: string): string => name.replace(/\.ics$/, "@contract.calgate.test");

/** The plan's fields as Google's web UI would set them (nulls are "absent"). */
const present = (body: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && v !== undefined));

describe("Google adapter against the emulator", () => {
  let emu: GoogleEmulator;
  let calendars = 0;
  before(async () => {
    emu = await startGoogleEmulator({ seed: 5 });
    emu.addClient(CLIENT);
    emu.addAccount(EMAIL, { timeZone: "Europe/Zurich" });
  });
  after(async () => {
    await emu?.close();
  });

  adapterContract("google (emulator)", async (): Promise<AdapterFixture> => {
    const calId = emu.addCalendar(EMAIL, { summary: `Contract ${++calendars}`, timeZone: "Europe/Berlin", accessRole: "owner" });
    const cfg = { id: "contract-google", type: "google", ...CLIENT, apiUrl: emu.apiUrl, authUrl: emu.authUrl, tokenUrl: emu.tokenUrl } as GoogleSourceConfig;
    const adapter = new GoogleAdapter(cfg, { timeoutMs: 10_000, backoffBaseMs: 5 });
    const ctx = memoryContext();
    const grant = emu.grant(CLIENT.clientId, EMAIL, ["https://www.googleapis.com/auth/calendar"]);
    ctx.secretValues.set("oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: "https://www.googleapis.com/auth/calendar", obtained_at: Date.now(), client_id: CLIENT.clientId }));
    const calendar = (await adapter.listCalendars(ctx)).find((c) => c.id === calId);
    if (!calendar) throw new Error(`the adapter did not list calendar ${calId}`);
    const find = (uid: string) => emu.events(calId).find((e) => e.iCalUID === uid && !e.recurringEventId && e.status !== "cancelled");
    return {
      adapter,
      ctx,
      calendar,
      other: {
        async put(name, ics) {
          const plan = icsToPlan(ics, { calendarZone: "Europe/Berlin" });
          const existing = find(plan.uid);
          if (existing) emu.patchEvent(calId, existing.id, present(plan.master as Record<string, unknown>));
          else emu.insertEvent(calId, { ...present(plan.master as Record<string, unknown>), iCalUID: plan.uid });
          void name;
        },
        async remove(name) {
          const existing = find(uidOfName(name));
          if (existing) emu.deleteEvent(calId, existing.id);
        },
      },
    };
  });
});
