/**
 * What a valid config asks for that this version does not do (yet), or cannot do as written: said
 * out loud by check-config and at start-up, never a silent "ok".
 */
import type { Config } from "./schema.ts";

/** `synced(type)`: whether this version syncs sources of that type (sources/registry.ts). */
export function configWarnings(config: Config, synced: (type: string) => boolean): string[] {
  const out: string[] = [];
  const publicUrl = config.server.publicUrl ?? null;
  for (const u of config.users) {
    for (const s of u.sources) {
      if (s.type !== "local" && !synced(s.type)) out.push(`users.${u.username}.sources.${s.id}: ${s.type} sources are not synced by this version yet; its calendars are not served`);
      if (s.type === "google" && publicUrl !== null && !publicUrl.startsWith("https://")) {
        out.push(`users.${u.username}.sources.${s.id}: Google sends push notifications only to an https server.publicUrl with a certificate from a public CA; with ${publicUrl} calgate polls this source instead`);
      }
      if (s.type === "microsoft" && publicUrl !== null && !publicUrl.startsWith("https://")) {
        out.push(`users.${u.username}.sources.${s.id}: Microsoft Graph sends change notifications only to an https server.publicUrl; with ${publicUrl} calgate polls this source instead`);
      }
    }
    if ((u.merged?.length ?? 0) > 0) out.push(`users.${u.username}.merged: merged calendars are not served by this version yet; the key is accepted and ignored`);
    const typeOf = new Map(u.sources.map((s) => [s.id.toLowerCase(), s.type]));
    (u.mirrors ?? []).forEach((m, i) => {
      for (const [k, ref] of [["from", m.from], ["to", m.to]] as const) {
        const type = typeOf.get(ref.slice(0, ref.indexOf("/")).toLowerCase());
        if (type !== undefined && type !== "local" && !synced(type)) out.push(`users.${u.username}.mirrors[${i}].${k}: "${ref}" is a calendar of a ${type} source, which this version does not sync; the rule cannot run`);
      }
    });
  }
  return out;
}
