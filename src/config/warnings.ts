/**
 * What a valid config asks for that this version does not do (yet), or cannot do as written: said
 * out loud by check-config and at start-up, never a silent "ok".
 */
import type { Config } from "./schema.ts";
import { globToRegExp } from "./glob.ts";

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
    for (const m of u.merged ?? []) {
      if (m.writeTo && !m.include.some((p) => globToRegExp(p).test(m.writeTo!))) {
        out.push(`users.${u.username}.merged.${m.id}: writeTo ${m.writeTo} is not among the calendars it includes, so events created in it will not show in it; add it to include`);
      }
    }
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

