/**
 * PURE: what to do with one page of remote changes, given what the cache knows (links) and which
 * objects have local writes still queued. No I/O, no clock: tested as a function.
 *
 * Rules:
 *  - a remote item is matched to a cached object by upstream id, else by UID (an object created
 *    here whose id the upstream chose, or one that moved);
 *  - same content (calgate ETag = hash of the stored text) → only the upstream version/base is
 *    recorded: no change-log entry, so clients see nothing and the gateway ETag stays stable;
 *  - an object with a queued local write (by name or by upstream id) is left alone: the writer's
 *    If-Match decides (412 → conflict). A queued delete is never resurrected by a pull;
 *  - a full listing that suddenly lists nothing while the cache holds upstream items is refused
 *    (vdirsyncer's StorageEmpty): an empty upstream is suspect, never a mass deletion;
 *  - every action on an existing object carries what the plan saw (`expect`), so the store applies
 *    it only if the object has not moved since (compare-and-set).
 */
export interface Link {
  readonly name: string;
  readonly uid: string;
  readonly etag: string;
  readonly upstream_href: string | null;
  readonly upstream_etag: string | null;
}

/** A remote upsert after parsing (the engine parses; the plan only compares). */
export type Incoming =
  | { readonly kind: "upsert"; readonly id: string; readonly etag: string | null; readonly uid: string; readonly gatewayEtag: string; readonly ics: string; readonly nameHint?: string }
  | { readonly kind: "invalid"; readonly id: string; readonly error: string }
  | { readonly kind: "delete"; readonly id: string };

export type Action =
  | { readonly type: "create"; readonly name: string; readonly id: string; readonly etag: string | null; readonly ics: string }
  | { readonly type: "update"; readonly name: string; readonly id: string; readonly etag: string | null; readonly ics: string; readonly expect: Link }
  | { readonly type: "link"; readonly name: string; readonly id: string; readonly etag: string | null; readonly ics: string; readonly expect: Link }
  | { readonly type: "delete"; readonly name: string; readonly id: string; readonly expect: Link }
  | { readonly type: "skip"; readonly id: string; readonly name: string | null; readonly reason: string; readonly queued?: boolean };

export class SuspiciousEmptyUpstream extends Error {
  override name = "SuspiciousEmptyUpstream";
}

export interface PlanInput {
  readonly links: readonly Link[];
  readonly incoming: readonly Incoming[];
  /** Names with a pending outbox row. */
  readonly pending: ReadonlySet<string>;
  /** Upstream ids with a pending outbox row (a queued delete has no cached object left to match). */
  readonly pendingIds?: ReadonlySet<string>;
  /** The engine asked the upstream for each known item and none exists: the empty listing is true. */
  readonly confirmedEmpty?: boolean;
  /** True when a create is queued whose upstream id is not known yet. */
  readonly pendingCreates?: boolean;
  /** Set when the page(s) listed every upstream item: ids (with etags) the upstream has. */
  readonly listed: ReadonlyMap<string, string | null> | null;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+=~-]{0,200}$/;

/** The cache name for a new upstream item: the adapter's hint when it is a plain file name, else from the UID. */
export function nameFor(hint: string, uid: string, taken: ReadonlySet<string>): string {
  let base = hint;
  if (!SAFE_NAME.test(base)) base = `${uid.replace(/[^A-Za-z0-9._@+=~-]/g, "_").replace(/^[^A-Za-z0-9]+/, "").slice(0, 180) || "item"}.ics`;
  if (!base.toLowerCase().endsWith(".ics")) base += ".ics";
  let name = base;
  for (let i = 2; taken.has(name); i++) name = base.replace(/\.ics$/i, `-${i}.ics`);
  return name;
}

export function plan(input: PlanInput): Action[] {
  const byId = new Map<string, Link>();
  const byUid = new Map<string, Link>();
  const taken = new Set<string>();
  const pendingIds = input.pendingIds ?? new Set<string>();
  for (const l of input.links) {
    if (l.upstream_href) byId.set(l.upstream_href, l);
    byUid.set(l.uid, l);
    taken.add(l.name);
  }
  if (input.listed && input.listed.size === 0 && !input.confirmedEmpty && input.links.some((l) => l.upstream_href !== null)) {
    throw new SuspiciousEmptyUpstream(`the upstream calendar listed no items while calgate holds ${input.links.filter((l) => l.upstream_href).length}; not deleting anything`);
  }
  const queued = (id: string, name: string | null): Action => ({ type: "skip", id, name, reason: "a local change is queued for it", queued: true });
  const actions: Action[] = [];
  const seen = new Set<string>(); // ids handled in this page
  const touched = new Set<string>(); // names that received an upstream version in this page
  const deletedIds = new Set(input.incoming.filter((i) => i.kind === "delete").map((i) => i.id));
  for (const inc of input.incoming) {
    seen.add(inc.id);
    if (inc.kind === "invalid") {
      actions.push({ type: "skip", id: inc.id, name: byId.get(inc.id)?.name ?? null, reason: inc.error });
      continue;
    }
    if (inc.kind === "delete") {
      const l = byId.get(inc.id);
      // An unknown id may be where a create still in flight landed (its id is known only once confirmed).
      if (!l && input.pendingCreates) actions.push(queued(inc.id, null));
      if (!l || touched.has(l.name)) continue;
      if (input.pending.has(l.name) || pendingIds.has(inc.id)) actions.push(queued(inc.id, l.name));
      else actions.push({ type: "delete", name: l.name, id: inc.id, expect: l });
      byId.delete(inc.id);
      continue;
    }
    if (pendingIds.has(inc.id)) {
      actions.push(queued(inc.id, byId.get(inc.id)?.name ?? null));
      continue;
    }
    let l = byId.get(inc.id);
    if (!l) {
      const u = byUid.get(inc.uid);
      if (u) {
        // Reuse the object when it was never linked (created here) or its old id is gone (moved upstream).
        const old = u.upstream_href;
        const free = old === null || !byId.has(old) || (input.listed !== null ? !input.listed.has(old) : deletedIds.has(old));
        if (!free) {
          actions.push({ type: "skip", id: inc.id, name: null, reason: `UID ${inc.uid} is already used by ${old}` });
          continue;
        }
        if (old) byId.delete(old);
        l = u;
      }
    }
    if (l && input.pending.has(l.name)) {
      actions.push(queued(inc.id, l.name));
      continue;
    }
    let name: string;
    if (!l) {
      name = nameFor(inc.nameHint ?? "", inc.uid, taken);
      taken.add(name);
      actions.push({ type: "create", name, id: inc.id, etag: inc.etag, ics: inc.ics });
    } else {
      name = l.name;
      actions.push({ type: l.etag === inc.gatewayEtag ? "link" : "update", name, id: inc.id, etag: inc.etag, ics: inc.ics, expect: l });
    }
    touched.add(name);
    const now: Link = { name, uid: inc.uid, etag: inc.gatewayEtag, upstream_href: inc.id, upstream_etag: inc.etag };
    byId.set(inc.id, now);
    byUid.set(inc.uid, now);
  }
  if (input.listed) {
    for (const l of input.links) {
      if (!l.upstream_href || input.listed.has(l.upstream_href) || seen.has(l.upstream_href)) continue;
      if (input.pending.has(l.name) || touched.has(l.name)) continue;
      actions.push({ type: "delete", name: l.name, id: l.upstream_href, expect: l });
    }
  }
  return actions;
}
