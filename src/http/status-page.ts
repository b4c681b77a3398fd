/**
 * GET /status (the status page: server-rendered HTML, updated live by /status.js), GET /status.json
 * (the same data), both behind the CalDAV login. The script re-fetches the page's main part
 * (/status?part=main) when an event arrives, so the HTML is rendered in one place: here.
 */
import type { StatusDocument, SourceStatusEntry } from "../status/snapshot.ts";
import type { ConflictEntry } from "../store/conflicts.ts";
import type { ExtraRoute } from "./routes.ts";
import { STATUS_SCRIPT } from "./status-script.ts";

export interface StatusSource {
  of(owner: string): Promise<StatusDocument>;
}

const CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function statusRoutes(status: StatusSource): ExtraRoute {
  return async (ctx, _user, authenticate) => {
    const path = ctx.path;
    if (path !== "/status" && path !== "/status.json" && path !== "/status.js") return false;
    if (ctx.method !== "GET" && ctx.method !== "HEAD") {
      ctx.status = 405;
      ctx.set("allow", "GET, HEAD");
      ctx.body = "GET only\n";
      return true;
    }
    ctx.set({ "cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" });
    if (path === "/status.js") {
      // Static and free of data: served without login, like any page asset.
      ctx.type = "text/javascript; charset=utf-8";
      ctx.body = STATUS_SCRIPT;
      return true;
    }
    const user = await authenticate();
    if (user === null) return true;
    const doc = await status.of(user);
    if (path === "/status.json") {
      ctx.type = "application/json";
      ctx.body = JSON.stringify(doc, null, 2) + "\n";
      return true;
    }
    ctx.set("content-security-policy", CSP);
    ctx.type = "text/html; charset=utf-8";
    ctx.body = ctx.query.part === "main" ? renderMain(doc) : renderPage(doc);
    return true;
  };
}

const esc = (s: unknown): string =>
  String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const time = (iso: string | null, none: string): string =>
  iso === null ? esc(none) : `<time datetime="${esc(iso)}">${esc(iso.replace("T", " ").replace(/\.\d+Z$/, " UTC"))}</time>`;

const STATE_WORDS: Record<string, string> = {
  ok: "OK",
  degraded: "Degraded: the upstream is failing",
  offline: "Offline: the upstream cannot be reached",
  auth_required: "Sign-in needed",
};

function renderPage(doc: StatusDocument): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>calgate status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>calgate status</h1>
<p>Signed in as <strong>${esc(doc.user)}</strong>. <span id="connection">Live updates: connecting…</span></p>
<form id="sync-all" method="post" action="/sync"><button type="submit">Sync now</button></form>
<p id="announce" role="status" aria-live="polite"></p>
</header>
<main id="state">
${renderMain(doc)}
</main>
<section aria-labelledby="h-live">
<h2 id="h-live">Live events</h2>
<p id="live-empty">No events since this page was opened.</p>
<ol id="live" aria-label="Events, newest first"></ol>
</section>
<script src="/status.js" defer></script>
</body>
</html>
`;
}

function renderMain(doc: StatusDocument): string {
  const extra = Object.entries(doc).filter(([k, v]) => !["user", "at", "sources", "conflicts"].includes(k) && Array.isArray(v));
  return `<p class="updated">As of ${time(doc.at, "")}.</p>
<section aria-labelledby="h-sources">
<h2 id="h-sources">Sources</h2>
${doc.sources.length ? doc.sources.map(renderSource).join("\n") : "<p>No sources are configured.</p>"}
</section>
${renderConflicts(doc.conflicts)}
${extra.map(([name, rows]) => renderGeneric(name, rows as unknown[])).join("\n")}`;
}

function renderSource(s: SourceStatusEntry): string {
  const id = `source-${s.id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const cals = s.calendars.length
    ? `<ul class="calendars">${s.calendars
        .map((c) => `<li>${c.color && /^#[0-9a-f]{3,8}$/i.test(c.color) ? `<span class="swatch" style="background:${c.color}" aria-hidden="true"></span>` : ""}${esc(c.name)} <code>${esc(c.id)}</code></li>`)
        .join("")}</ul>`
    : "<p>No calendars yet.</p>";
  return `<article class="source state-${esc(s.state)}" data-source="${esc(s.id)}" data-state="${esc(s.state)}" aria-labelledby="${id}">
<h3 id="${id}">${esc(s.id)} <span class="type">(${esc(s.type)})</span></h3>
<dl>
<dt>State</dt><dd class="state">${esc(STATE_WORDS[s.state] ?? s.state)}</dd>
${s.synced ? `<dt>Last successful sync</dt><dd class="last-sync">${time(s.lastSyncAt, "not yet")}</dd>
<dt>Next sync</dt><dd class="next-sync">${time(s.nextSyncAt, "not scheduled by this server")}</dd>
<dt>Writes waiting for the upstream</dt><dd class="outbox">${s.outbox}</dd>` : `<dt>Kind</dt><dd>Stored by calgate (nothing to sync)</dd>`}
</dl>
${s.lastError ? `<div class="error"><p><strong>Last error${s.lastError.at ? ` (${time(s.lastError.at, "")})` : ""}:</strong> ${esc(s.lastError.message)}</p><p><strong>What to do:</strong> ${esc(s.lastError.advice)}</p></div>` : ""}
${s.warning ? `<p class="warning"><strong>Warning:</strong> ${esc(s.warning)}</p>` : ""}
<h4>Calendars</h4>
${cals}
${s.synced ? `<button type="button" data-sync="${esc(s.id)}">Sync ${esc(s.id)} now</button>` : ""}
</article>`;
}

function renderConflicts(c: StatusDocument["conflicts"]): string {
  const rows = c.items
    .map(
      (x: ConflictEntry) =>
        `<tr class="outcome-${esc(x.outcome)}"><td>${esc(x.id)}</td><td>${time(x.detectedAt, "")}</td><td>${esc(x.source)}/${esc(x.calendar)}</td><td><code>${esc(x.object)}</code></td><td>${esc(x.policy)}</td><td>${esc(x.outcome)}</td></tr>`,
    )
    .join("\n");
  return `<section aria-labelledby="h-conflicts">
<h2 id="h-conflicts">Conflicts</h2>
<p>${c.pending === 0 ? "No conflict is awaiting a look." : `${c.pending} conflict${c.pending === 1 ? " is" : "s are"} awaiting a look.`} Every version is kept: <code>calgate conflicts show &lt;id&gt;</code> prints them and <code>calgate conflicts restore</code> brings one back.</p>
${rows ? `<table><caption>Pending and recent conflicts</caption><thead><tr><th scope="col">Id</th><th scope="col">Detected</th><th scope="col">Calendar</th><th scope="col">Object</th><th scope="col">Policy</th><th scope="col">Outcome</th></tr></thead><tbody>${rows}</tbody></table>` : ""}
</section>`;
}

/** A section this page does not know (added by another part of calgate): a table of its rows' fields. */
function renderGeneric(name: string, rows: unknown[]): string {
  const id = `h-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const title = name.charAt(0).toUpperCase() + name.slice(1);
  const objects = rows.filter((r): r is Record<string, unknown> => r !== null && typeof r === "object");
  const keys = [...new Set(objects.flatMap((o) => Object.keys(o)))];
  const cell = (v: unknown): string => esc(v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : v);
  return `<section aria-labelledby="${id}">
<h2 id="${id}">${esc(title)}</h2>
${objects.length === 0 ? "<p>None.</p>" : `<table><thead><tr>${keys.map((k) => `<th scope="col">${esc(k)}</th>`).join("")}</tr></thead><tbody>${objects.map((o) => `<tr>${keys.map((k) => `<td>${cell(o[k])}</td>`).join("")}</tr>`).join("\n")}</tbody></table>`}
</section>`;
}

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1f2937}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:1.5rem}h3{font-size:1.05rem;margin:.2rem 0}h4{font-size:.95rem;margin:.6rem 0 .2rem}
.source{border:1px solid #d1d5db;border-left-width:6px;border-radius:6px;padding:.6rem .9rem;margin:.8rem 0}
.state-ok{border-left-color:#16a34a}.state-degraded{border-left-color:#d97706}.state-offline{border-left-color:#6b7280}.state-auth_required{border-left-color:#dc2626}
.type{color:#4b5563;font-weight:normal}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.3rem 0}dt{color:#4b5563}dd{margin:0}
.error{background:#fef2f2;border-radius:4px;padding:.2rem .6rem}.warning{background:#fffbeb;border-radius:4px;padding:.4rem .6rem}
.calendars{list-style:none;padding:0;margin:0}.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.4em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;border-bottom:1px solid #e5e7eb;padding:.2rem .4rem;vertical-align:top}
button{font:inherit;padding:.3rem .8rem;cursor:pointer}
#live{padding-left:1.2rem}#live li{margin:.15rem 0}.updated{color:#4b5563}
`;
