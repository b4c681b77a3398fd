/**
 * The SourceAdapter contract for the CalDAV adapter, against real Radicale and Xandikos servers.
 * One server of each per run; every test gets a fresh calendar (MKCALENDAR) and a fresh context.
 * The "other client" is plain HTTP: PUT / DELETE on `<calendar URL><name>` without preconditions,
 * so the adapter must store a create of `name` at that href (what `locate(name)` relies on).
 *
 * Depends on the sync rewrite: `new CaldavAdapter(cfg, timeoutMs)`, state through ctx.state.
 */
import { after, before, describe } from "node:test";
import type { CaldavSourceConfig } from "../../src/config/schema.ts";
import { CaldavAdapter } from "../../src/sources/caldav/adapter.ts";
import { adapterContract, type AdapterFixture } from "./source-adapter.ts";
import { memoryContext } from "../helpers/memory-upstream.ts";
import { peerAvailable, startRadicale, startXandikos, type PeerServer } from "../helpers/peers.ts";

const mkcalendarBody = (displayname: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>${displayname}</D:displayname><C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>`;

let calendars = 0;

/** A fixture factory over a running server: each call makes a new calendar in the first user's home. */
export function caldavFixture(server: () => PeerServer, label: string, opts: { listingPage?: number } = {}): () => Promise<AdapterFixture> {
  return async () => {
    const peer = server();
    const slug = `contract-${label}-${++calendars}`;
    const calUrl = `${peer.calendarHomeUrl}${slug}/`;
    const mk = await fetch(calUrl, { method: "MKCALENDAR", headers: { authorization: peer.authHeader, "content-type": "application/xml; charset=utf-8" }, body: mkcalendarBody(slug) });
    if (mk.status !== 201) throw new Error(`MKCALENDAR ${calUrl} → ${mk.status}: ${await mk.text()}`);
    const cfg = { id: `contract-${label}`, type: "caldav", url: peer.calendarHomeUrl, username: peer.username, password: peer.password } as CaldavSourceConfig;
    const adapter = new CaldavAdapter(cfg, 10_000, opts);
    const ctx = memoryContext();
    const listed = await adapter.listCalendars(ctx);
    const calendar = listed.find((c) => c.nameHint === slug || c.displayname === slug || c.id.replace(/\/$/, "").endsWith(`/${slug}`));
    if (!calendar) throw new Error(`the adapter did not list the new calendar ${calUrl}: ${listed.map((c) => c.id).join(", ")}`);
    const href = (name: string): string => `${calUrl}${encodeURIComponent(name)}`;
    return {
      adapter,
      ctx,
      calendar,
      other: {
        async put(name, ics) {
          const r = await fetch(href(name), { method: "PUT", headers: { authorization: peer.authHeader, "content-type": "text/calendar; charset=utf-8" }, body: ics });
          await r.arrayBuffer();
          if (r.status >= 300) throw new Error(`other client: PUT ${href(name)} → ${r.status}`);
        },
        async remove(name) {
          const r = await fetch(href(name), { method: "DELETE", headers: { authorization: peer.authHeader } });
          await r.arrayBuffer();
          if (r.status >= 300 && r.status !== 404) throw new Error(`other client: DELETE ${href(name)} → ${r.status}`);
        },
      },
    };
  };
}

for (const [label, start] of [["radicale", () => startRadicale()], ["xandikos", () => startXandikos()]] as const) {
  const missing = peerAvailable(label);
  describe(`CalDAV adapter against ${label}`, { skip: missing ?? false }, () => {
    let peer: PeerServer | null = null;
    before(async () => {
      peer = await start();
    });
    after(async () => {
      await peer?.stop();
    });
    adapterContract(`caldav (${label})`, caldavFixture(() => peer!, label));
    // The same contract with full listings fetched two members per pull (full-listing.ts): initial
    // syncs, rejected tokens and deletions then span several pages, `listed` only on the last.
    if (label === "radicale") adapterContract(`caldav (${label}, listings in pages of 2)`, caldavFixture(() => peer!, `${label}-paged`, { listingPage: 2 }));
  });
}
