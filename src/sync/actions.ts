/**
 * Applying plan actions to the cache. Each action is its own (nested) transaction: one that fails
 * rolls back alone and is reported, the others stand. Upstream versions are written with the
 * upstream href/ETag and as the new base (the version last agreed with the upstream).
 */
import type { Knex } from "knex";
import type { Logger } from "pino";
import { ObjectStore, type ObjectWrite } from "../store/objects.ts";
import { parseCalendarObject } from "../ical/parse.ts";
import { objectWrite } from "./service.ts";
import type { Action } from "./plan.ts";

export interface ApplyStats {
  created: number;
  updated: number;
  deleted: number;
  linked: number;
  skipped: number;
  errors: string[];
}
export const emptyStats = (): ApplyStats => ({ created: 0, updated: 0, deleted: 0, linked: 0, skipped: 0, errors: [] });

const NO_CONDITIONS = { ifMatch: null, ifNoneMatch: null } as const;

/** The store write for an upstream version of an object. */
export function upstreamWrite(name: string, ics: string, href: string, etag: string | null): ObjectWrite {
  const parsed = parseCalendarObject(ics);
  return { ...objectWrite(name, parsed), upstreamHref: href, upstreamEtag: etag, baseIcs: parsed.text };
}

export async function applyActions(db: Knex, calendarId: number, actions: readonly Action[], stats: ApplyStats, log: Logger, batch = 200): Promise<void> {
  for (let i = 0; i < actions.length; i += batch) {
    const chunk = actions.slice(i, i + batch);
    // One outer transaction per chunk keeps SQLite commits (fsyncs) few; each action is a savepoint inside it.
    await db.transaction(async (trx) => {
      for (const a of chunk) await applyOne(trx, calendarId, a, stats, log);
    });
  }
}

async function applyOne(trx: Knex.Transaction, calendarId: number, a: Action, stats: ApplyStats, log: Logger): Promise<void> {
  const objects = new ObjectStore(trx as unknown as Knex);
  try {
    switch (a.type) {
      case "skip":
        stats.skipped++;
        log.warn({ href: a.href, name: a.name, reason: a.reason }, "upstream item not applied");
        return;
      case "link":
        await objects.setUpstream(calendarId, a.name, { upstreamHref: a.href, upstreamEtag: a.etag, baseIcs: parseCalendarObject(a.ics).text }, trx);
        stats.linked++;
        return;
      case "create":
      case "update": {
        const out = await objects.put(calendarId, upstreamWrite(a.name, a.ics, a.href, a.etag), NO_CONDITIONS);
        if (!out.ok) throw new Error(out.reason === "uid-conflict" ? `UID already used by ${out.existingName}` : out.reason);
        if (out.created) stats.created++;
        else stats.updated++;
        return;
      }
      case "delete": {
        const out = await objects.remove(calendarId, a.name, NO_CONDITIONS);
        if (out.ok) stats.deleted++;
        return;
      }
    }
  } catch (e) {
    stats.skipped++;
    const msg = `${a.type} ${"name" in a && a.name ? a.name : a.href}: ${(e as Error).message}`;
    stats.errors.push(msg);
    log.warn({ action: a.type, href: a.href, err: (e as Error).message }, "could not apply an upstream change");
  }
}
