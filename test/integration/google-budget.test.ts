/**
 * The Google adapter's client-side budget keeps it inside Google's per-user quota: against an emulator
 * whose quota is 20 requests per minute, an adapter with a budget of 18 writes 60 events and never
 * meets a rate-limit answer. Time is virtual (one clock shared by the adapter's budget and the
 * emulator's quota windows), so the test runs in milliseconds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { GoogleSourceConfig } from "../../src/config/schema.ts";
import { GoogleAdapter } from "../../src/sources/google/adapter.ts";
import type { Clock } from "../../src/sources/budget.ts";
import { startGoogleEmulator } from "../emulators/google/index.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";

const CLIENT = { clientId: "budget.apps.googleusercontent.com", clientSecret: "budget-secret" };
const EMAIL = "budget@example.com";

test("a per-user budget under Google's quota: 60 writes, no rate-limit answer", async () => {
  let t = Date.now();
  const clock: Clock = { now: () => t, sleep: async (ms) => void (t += ms) };
  const emu = await startGoogleEmulator({ seed: 1, now: () => t, quota: { perUserPerMinute: 20 } });
  try {
    emu.addClient(CLIENT);
    emu.addAccount(EMAIL, { timeZone: "UTC" });
    const calId = emu.addCalendar(EMAIL, { summary: "Budget", timeZone: "UTC", accessRole: "owner" });
    const cfg = { id: "budget", type: "google", ...CLIENT, apiUrl: emu.apiUrl, authUrl: emu.authUrl, tokenUrl: emu.tokenUrl } as GoogleSourceConfig;
    const adapter = new GoogleAdapter(cfg, { timeoutMs: 10_000, clock, perUserPerMinute: 18, backoffBaseMs: 5 });
    const ctx = memoryContext();
    const grant = emu.grant(CLIENT.clientId, EMAIL, ["https://www.googleapis.com/auth/calendar"]);
    ctx.secretValues.set("oauth", JSON.stringify({ refresh_token: grant.refresh_token, scope: "https://www.googleapis.com/auth/calendar", obtained_at: Date.now(), client_id: CLIENT.clientId }));
    const cal = (await adapter.listCalendars(ctx)).find((c) => c.id === calId)!;
    const start = t;
    for (let i = 0; i < 60; i++) {
      const ics = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", `UID:budget-${i}@calgate.test`, "DTSTAMP:20261201T000000Z",
        `DTSTART:202701${String(1 + (i % 28)).padStart(2, "0")}T100000Z`, "DTEND:20270101T110000Z".replace("0101", `01${String(1 + (i % 28)).padStart(2, "0")}`), `SUMMARY:Budget ${i}`, "END:VEVENT", "END:VCALENDAR", ""].join("\r\n");
      await adapter.write(cal, { name: `b${i}.ics`, ref: null, ics }, ctx);
    }
    const limited = emu.requests.filter((r) => r.status === 403 || r.status === 429);
    assert.equal(limited.length, 0, `rate-limit answers: ${limited.length}`);
    assert.equal(emu.events(calId).length, 60);
    const minutes = (t - start) / 60_000;
    assert.ok(minutes >= 2.5, `the budget spread ${adapter.requests} requests over ${minutes.toFixed(2)} virtual minutes`);
  } finally {
    await emu.close();
  }
});
