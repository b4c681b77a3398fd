/**
 * PURE: what to do with one page of remote changes, given what the cache knows (links) and which
 * objects have local writes still queued. No I/O, no clock: tested as a function.
 *
 * Rules:
 *  - a remote item is matched to a cached object by upstream href, else by UID (an object created
 *    here whose href the upstream chose, or one that moved);
 *  - same content (calgate ETag = hash of the stored text) → only the upstream ETag/base is recorded:
 *    no change-log entry, so clients see nothing and the gateway ETag stays stable;
 *  - an object with a queued local write is left alone: the writer's If-Match decides (412 → conflict);
 *  - a full listing that suddenly lists nothing while the cache holds upstream items is refused
 *    (vdirsyncer's StorageEmpty): an empty upstream is suspect, never a mass deletion.
 */
import type { RemoteEtag } from "../sources/adapter.ts";

export interface Link {
  readonly name: string;
  readonly uid: string;
  readonly etag: string;
  readonly upstream_href: string | null;
  readonly upstream_etag: string | null;
}

/** A remote upsert after parsing (the engine parses; the plan only compares). */
export type Incoming =
  | { readonly kind: "upsert"; readonly href: string; readonly etag: RemoteEtag | null; readonly uid: string; readonly gatewayEtag: string; readonly ics: string }
  | { readonly kind: "invalid"; readonly href: string; readonly error: string }
  | { readonly kind: "delete"; readonly href: string };

export type Action =
  | { readonly type: "create"; readonly name: string; readonly href: string; readonly etag: RemoteEtag | null; readonly ics: string }
  | { readonly type: "update"; readonly name: string; readonly href: string; readonly etag: RemoteEtag | null; readonly ics: string }
  | { readonly type: "link"; readonly name: string; readonly href: string; readonly etag: RemoteEtag | null; readonly ics: string }
  | { readonly type: "delete"; readonly name: string; readonly href: string }
  | { readonly type: "skip"; readonly href: string; readonly name: string | null; readonly reason: string };

export class SuspiciousEmptyUpstream extends Error {
  override name = "SuspiciousEmptyUpstream";
}

export interface PlanInput {
  readonly links: readonly Link[];
  readonly incoming: readonly Incoming[];
  /** Names with a pending outbox row. */
  readonly pending: ReadonlySet<string>;
  /** Set when the page(s) listed every upstream item: hrefs (with etags) the upstream has. */
  readonly listed: ReadonlyMap<string, RemoteEtag | null> | null;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+=~-]{0,200}$/;

/** The cache name for a new upstream item: the href's last segment when it is a plain file name, else from the UID. */
export function nameFor(href: string, uid: string, taken: ReadonlySet<string>): string {
  let base: string;
  try {
    base = decodeURIComponent(new URL(href).pathname.split("/").filter(Boolean).pop() ?? "");
  } catch {
    base = "";
  }
  if (!SAFE_NAME.test(base)) base = `${uid.replace(/[^A-Za-z0-9._@+=~-]/g, "_").replace(/^[^A-Za-z0-9]+/, "").slice(0, 180) || "item"}.ics`;
  if (!base.toLowerCase().endsWith(".ics")) base += ".ics";
  let name = base;
  for (let i = 2; taken.has(name); i++) name = base.replace(/\.ics$/i, `-${i}.ics`);
  return name;
}

export function plan(input: PlanInput): Action[] {
  const byHref = new Map<string, Link>();
  const byUid = new Map<string, Link>();
  const taken = new Set<string>();
  for (const l of input.links) {
    if (l.upstream_href) byHref.set(l.upstream_href, l);
    byUid.set(l.uid, l);
    taken.add(l.name);
  }
  if (input.listed && input.listed.size === 0 && input.links.some((l) => l.upstream_href !== null)) {
    throw new SuspiciousEmptyUpstream(`the upstream calendar listed no items while calgate holds ${input.links.filter((l) => l.upstream_href).length}; not deleting anything`);
  }
  const actions: Action[] = [];
  const seen = new Set<string>(); // hrefs handled in this page
  const touched = new Set<string>(); // names that received an upstream version in this page
  const deletedHrefs = new Set(input.incoming.filter((i) => i.kind === "delete").map((i) => i.href));
  for (const inc of input.incoming) {
    seen.add(inc.href);
    if (inc.kind === "invalid") {
      actions.push({ type: "skip", href: inc.href, name: byHref.get(inc.href)?.name ?? null, reason: inc.error });
      continue;
    }
    if (inc.kind === "delete") {
      const l = byHref.get(inc.href);
      if (!l || touched.has(l.name)) continue;
      if (input.pending.has(l.name)) actions.push({ type: "skip", href: inc.href, name: l.name, reason: "a local change is queued for it" });
      else actions.push({ type: "delete", name: l.name, href: inc.href });
      byHref.delete(inc.href);
      continue;
    }
    let l = byHref.get(inc.href);
    if (!l) {
      const u = byUid.get(inc.uid);
      if (u) {
        // Reuse the object when it was never linked (created here) or its old href is gone (moved upstream).
        const old = u.upstream_href;
        const free = old === null || !byHref.has(old) || (input.listed !== null ? !input.listed.has(old) : deletedHrefs.has(old));
        if (!free) {
          actions.push({ type: "skip", href: inc.href, name: null, reason: `UID ${inc.uid} is already used by ${old}` });
          continue;
        }
        if (old) byHref.delete(old);
        l = u;
      }
    }
    if (l && input.pending.has(l.name)) {
      actions.push({ type: "skip", href: inc.href, name: l.name, reason: "a local change is queued for it" });
      continue;
    }
    let name: string;
    if (!l) {
      name = nameFor(inc.href, inc.uid, taken);
      taken.add(name);
      actions.push({ type: "create", name, href: inc.href, etag: inc.etag, ics: inc.ics });
    } else {
      name = l.name;
      actions.push({ type: l.etag === inc.gatewayEtag ? "link" : "update", name, href: inc.href, etag: inc.etag, ics: inc.ics });
    }
    touched.add(name);
    const now: Link = { name, uid: inc.uid, etag: inc.gatewayEtag, upstream_href: inc.href, upstream_etag: inc.etag };
    byHref.set(inc.href, now);
    byUid.set(inc.uid, now);
  }
  if (input.listed) {
    for (const l of input.links) {
      if (!l.upstream_href || input.listed.has(l.upstream_href) || seen.has(l.upstream_href)) continue;
      if (input.pending.has(l.name) || touched.has(l.name)) continue;
      actions.push({ type: "delete", name: l.name, href: l.upstream_href });
    }
  }
  return actions;
}
