/**
 * DAV:sync-collection (RFC 6578). An empty token returns every member; a token returns members changed
 * since, with tombstones as 404 responses. Tokens from elsewhere or pruned are answered with
 * DAV:valid-sync-token. Apple's draft form without DAV:sync-level is accepted.
 * DAV:limit (or the server's page size) truncates the answer, initial or not (sections 3.6, 3.7): the
 * members so far, a 507 response for the collection, and a token from which the next report
 * continues with the rest and any later changes.
 */
import { dav } from "../../xml/names.ts";
import { child, el, text } from "../../xml/tree.ts";
import { DavError, Conditions, badRequest } from "../errors.ts";
import { objectHref } from "../resources.ts";
import { parsePropRequest, type PropRequest } from "../props/resolve.ts";
import { multistatusStream, type ResponseEntry } from "../../xml/multistatus.ts";
import { InvalidSyncToken, isWholeListing, type ChangeSet, type ObjectHead } from "../service.ts";
import { memberResponses } from "../listing-cache.ts";
import type { ReportHandler } from "./registry.ts";
import { objectResponses } from "./calendar-data.ts";

interface SyncRequest {
  token: string;
  props: PropRequest;
  limit: number | null;
}

/** Responses for a listing that comes in pages (a large calendar's initial sync), page by page. */
async function* pagedResponses(pages: AsyncIterable<readonly ObjectHead[]>, render: (page: readonly ObjectHead[]) => AsyncIterable<ResponseEntry>): AsyncGenerator<ResponseEntry> {
  for await (const page of pages) yield* render(page);
}

export const syncCollection: ReportHandler<SyncRequest> = {
  name: dav("sync-collection"),
  on: ["calendar", "home"],
  parse(root) {
    const tokenEl = child(root, dav("sync-token"));
    const levelEl = child(root, dav("sync-level"));
    if (levelEl) {
      const level = text(levelEl).trim();
      // RFC 6578 3.3: "infinite" on a collection without child collections is the same as "1".
      if (level !== "1" && level !== "infinite") throw badRequest(`DAV:sync-level "${level}" is not valid; expected 1 or infinite (RFC 6578 6.3)`);
    }
    const limitEl = child(root, dav("limit"));
    const nres = limitEl ? child(limitEl, dav("nresults")) : undefined;
    const limit = nres ? Number(text(nres).trim()) : null;
    if (limit !== null && (!Number.isInteger(limit) || limit < 1)) throw badRequest("DAV:nresults must be a positive integer");
    return { token: tokenEl ? text(tokenEl).trim() : "", props: parsePropRequest(root), limit };
  },
  async run(q, target, ctx, registry) {
    if (target.kind !== "calendar") {
      throw new DavError(403, "sync-collection is offered on calendar collections, not on the calendar home; list the home with PROPFIND Depth 1", Conditions.supportedReport);
    }
    const cal = target.cal;
    const pageSize = Math.min(q.limit ?? Number.MAX_SAFE_INTEGER, ctx.limits.syncPageSize);
    let changes: ChangeSet;
    try {
      // The token is the service's: passed on as it came (an empty one asks for the initial listing).
      changes = await ctx.service.changesSince(cal, q.token === "" ? null : q.token, pageSize);
    } catch (e) {
      if (e instanceof InvalidSyncToken) {
        throw new DavError(403, e.reason === "foreign" ? `sync token "${q.token}" was not issued for this calendar` : `sync token "${q.token}" is no longer valid: ${e.message}; start again with an empty token`, Conditions.validSyncToken);
      }
      throw e;
    }
    const user = ctx.user;
    // An initial listing is the calendar's member listing: its rendered responses may be kept (listing-cache.ts).
    const changed = changes.changed;
    const members = !isWholeListing(changed)
      ? pagedResponses(changed, (page) => objectResponses(page, cal, q.props, ctx, registry, null))
      : q.token === "" && changes.removed.length === 0 && !changes.truncated
        ? await memberResponses(changed, cal, q.props, ctx, registry, () => objectResponses(changed, cal, q.props, ctx, registry, null))
        : objectResponses(changed, cal, q.props, ctx, registry, null);
    async function* entries(): AsyncGenerator<ResponseEntry | Buffer> {
      yield* members;
      for (const name of changes.removed) yield { href: objectHref(user.username, cal.name, name), status: 404 };
      if (changes.truncated) yield { href: target.href, status: 507 };
    }
    return {
      status: 207,
      headers: { "content-type": "application/xml; charset=utf-8" },
      body: multistatusStream(entries(), ctx.minimal, () => [el(dav("sync-token"), changes.token)]),
    };
  },
};
