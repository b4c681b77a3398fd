/**
 * Test helpers for `type: microsoft` sources against the Graph emulator: a source config pointed at it
 * (authority, apiUrl, caCert), one in-process device-code sign-in whose stored secrets (encrypted MSAL
 * cache + account record, as `calgate auth microsoft` leaves them) can be copied into any context, and
 * the "other client" (Outlook) finding events by calgate's UID property.
 */
import { Writable } from "node:stream";
import type { MicrosoftSourceConfig } from "../../src/config/schema.ts";
import { deviceCodeAuth } from "../../src/sources/microsoft/auth.ts";
import { UID_PROPERTY_ID } from "../../src/sources/microsoft/groups.ts";
import type { GraphEmulator } from "../emulators/graph/index.ts";
import { raw } from "../emulators/graph/harness.ts";

export const GRAPH_CLIENT_ID = "5e0c7a1b-2f3d-4a6b-8c9d-0e1f2a3b4c5d";

export function graphSource(emu: GraphEmulator, over: Partial<MicrosoftSourceConfig> = {}): MicrosoftSourceConfig {
  return {
    id: "office", type: "microsoft", clientId: GRAPH_CLIENT_ID, tenant: "common",
    authority: emu.authority, apiUrl: emu.apiUrl, caCert: emu.caCertPath,
    window: { pastDays: 3650, futureDays: 730 },
    ...over,
  } as MicrosoftSourceConfig;
}

/** Signs `upn` in through the device code flow (approved at once); returns the secrets it stored. */
export async function signIn(emu: GraphEmulator, source: MicrosoftSourceConfig, upn: string): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  const secrets = { get: async (k: string) => m.get(k) ?? null, set: async (k: string, v: string) => void m.set(k, v) };
  let text = "";
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      const code = emu.pendingDeviceCodes.find((c) => text.includes(c.userCode));
      if (code) emu.approveDeviceCode(code.userCode, upn);
      cb();
    },
  });
  await deviceCodeAuth(source, { stdout }, secrets);
  return m;
}

/** The id of the single/master in `calId` carrying calgate's UID property `uid` (as Outlook sees it), or null. */
export async function eventIdByUid(emu: GraphEmulator, upn: string, calId: string, uid: string): Promise<string | null> {
  const token = emu.grant(GRAPH_CLIENT_ID, upn).access_token;
  const filter = `singleValueExtendedProperties/Any(ep: ep/id eq '${UID_PROPERTY_ID}' and ep/value eq '${uid.replace(/'/g, "''")}')`;
  const r = await raw(emu, "GET", `v1.0/users/${encodeURIComponent(upn)}/calendars/${encodeURIComponent(calId)}/events?$filter=${encodeURIComponent(filter)}&$select=id`, { token });
  if (r.status !== 200) throw new Error(`events by UID: ${r.status} ${r.text}`);
  return (r.body.value as { id: string }[])[0]?.id ?? null;
}

/** A plan's master as Outlook would store it for another calgate (UID property set, no transactionId). */
export function outlookBody(master: Record<string, unknown>, uid: string): Record<string, unknown> {
  const { transactionId: _t, ...rest } = master;
  const props = (rest.singleValueExtendedProperties as { id: string; value: string }[] | undefined) ?? [];
  return { ...rest, singleValueExtendedProperties: [...props, { id: UID_PROPERTY_ID, value: uid }] };
}
