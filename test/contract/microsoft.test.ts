/**
 * The SourceAdapter contract for the Microsoft Graph adapter, against the Graph emulator
 * (test/emulators/graph) through the official SDK and MSAL, signed in once with the device code flow.
 * Every test gets a fresh calendar. Graph events are found by calgate's UID property: the "other client"
 * (Outlook, played by the emulator's in-process API) finds the item of a name through the UID the
 * contract derives from it.
 */
import { after, before, describe } from "node:test";
import { MicrosoftAdapter } from "../../src/sources/microsoft/adapter.ts";
import { icsToPlan } from "../../src/sources/microsoft/translate.ts";
import { startGraphEmulator, type GraphEmulator } from "../emulators/graph/index.ts";
import { eventIdByUid, graphSource, GRAPH_CLIENT_ID, outlookBody, signIn } from "../helpers/graph-source.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";
import { adapterContract, type AdapterFixture } from "./source-adapter.ts";

const UPN = "contract@contoso.example";
const uidOfName = (name: string): string => name.replace(/\.ics$/, "@contract.calgate.test");

describe("Microsoft Graph adapter against the emulator", () => {
  let emu: GraphEmulator;
  let secrets: Map<string, string>;
  let calendars = 0;
  before(async () => {
    emu = await startGraphEmulator({ seed: 11, deviceCodeIntervalSec: 1 });
    emu.addClient(GRAPH_CLIENT_ID);
    emu.addAccount(UPN, { timeZone: "W. Europe Standard Time" });
    secrets = await signIn(emu, graphSource(emu), UPN);
  });
  after(async () => {
    await emu?.close();
  });

  adapterContract("microsoft (emulator)", async (): Promise<AdapterFixture> => {
    const calId = emu.addCalendar(UPN, { name: `Contract ${++calendars}` });
    const adapter = new MicrosoftAdapter(graphSource(emu), { timeoutMs: 10_000, backoffBaseMs: 5 });
    const ctx = memoryContext();
    for (const [k, v] of secrets) ctx.secretValues.set(k, v);
    const calendar = (await adapter.listCalendars(ctx)).find((c) => c.id === calId);
    if (!calendar) throw new Error(`the adapter did not list calendar ${calId}`);
    return {
      adapter,
      ctx,
      calendar,
      other: {
        async put(name, ics) {
          const plan = icsToPlan(ics);
          const existing = await eventIdByUid(emu, UPN, calId, plan.uid);
          const body = outlookBody(plan.master as Record<string, unknown>, plan.uid);
          if (existing) emu.updateEvent(UPN, existing, body);
          else emu.createEvent(UPN, calId, body);
          void name;
        },
        async remove(name) {
          const existing = await eventIdByUid(emu, UPN, calId, uidOfName(name));
          if (existing) emu.deleteEvent(UPN, existing);
        },
      },
    };
  });
});
