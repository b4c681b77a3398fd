/**
 * The status page's script (served as /status.js): listens to /events?named=0 (every kind of event,
 * known or not), lists each event, announces the ones a person cares about in the polite live
 * region, re-fetches the page's main part after events, and sends "Sync now" as POST /sync.
 */
export const STATUS_SCRIPT = String.raw`"use strict";
(function () {
  var live = document.getElementById("live");
  var empty = document.getElementById("live-empty");
  var announce = document.getElementById("announce");
  var connection = document.getElementById("connection");
  var main = document.getElementById("state");
  var MAX_ITEMS = 100;
  var refreshTimer = null;

  function say(text) {
    announce.textContent = text;
  }

  function refresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      fetch("/status?part=main", { headers: { accept: "text/html" }, cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) main.innerHTML = html; })
        .catch(function () {});
    }, 150);
  }

  var OMIT = { type: 1, id: 1, at: 1, source: 1, calendar: 1 };
  function summary(e) {
    var where = (e.source ? e.source : "") + (e.calendar ? "/" + e.calendar : "");
    switch (e.type) {
      case "sync.started": return "Sync of " + where + " started (" + e.reason + ")";
      case "sync.completed": return "Sync of " + where + " completed: " + e.created + " new, " + e.updated + " changed, " + e.deleted + " removed in " + e.ms + " ms";
      case "sync.failed": return "Sync of " + where + " failed: " + e.error;
      case "source.status": return "Source " + where + " is now " + e.status + (e.message ? ": " + e.message : "");
      case "write.queued": return "Change to " + e.object + " in " + where + " queued for the upstream";
      case "write.replayed": return "Change to " + e.object + " in " + where + ": " + e.outcome + (e.error ? " (" + e.error + ")" : "");
      case "conflict.detected": return "Conflict on " + e.object + " in " + where + ": " + e.resolution;
      case "conflict.resolved": return "Conflict " + e.conflictId + " on " + e.object + " resolved: " + e.resolution;
      case "server.closing": return "The server is shutting down; this page reconnects when it is back";
      default:
        // An event this page does not know: its type and fields, as they are.
        var parts = [];
        for (var k in e) if (!OMIT[k]) parts.push(k + "=" + (typeof e[k] === "object" ? JSON.stringify(e[k]) : e[k]));
        return e.type + (where ? " " + where : "") + (parts.length ? ": " + parts.join(", ") : "");
    }
  }
  var ANNOUNCE = { "sync.completed": 1, "sync.failed": 1, "source.status": 1, "conflict.detected": 1, "conflict.resolved": 1, "server.closing": 1 };

  function add(e) {
    var li = document.createElement("li");
    li.className = "event type-" + String(e.type).replace(/[^a-z0-9_-]/gi, "_");
    li.setAttribute("data-type", e.type);
    var t = document.createElement("time");
    t.dateTime = e.at || "";
    t.textContent = e.at ? new Date(e.at).toLocaleTimeString() : "";
    li.appendChild(t);
    li.appendChild(document.createTextNode(" " + summary(e)));
    live.insertBefore(li, live.firstChild);
    while (live.children.length > MAX_ITEMS) live.removeChild(live.lastChild);
    if (empty) { empty.remove(); empty = null; }
    if (ANNOUNCE[e.type]) say(summary(e));
  }

  if (typeof EventSource === "function") {
    var es = new EventSource("/events?named=0");
    es.onopen = function () { connection.textContent = "Live updates: connected."; };
    es.onerror = function () { connection.textContent = "Live updates: reconnecting…"; };
    es.onmessage = function (m) {
      var e;
      try { e = JSON.parse(m.data); } catch (err) { return; }
      add(e);
      refresh();
    };
  } else connection.textContent = "Live updates are not supported by this browser; reload to update.";

  function syncNow(source) {
    var url = "/sync" + (source ? "?source=" + encodeURIComponent(source) : "");
    say("Sync of " + (source || "every source") + " requested…");
    fetch(url, { method: "POST", cache: "no-store" })
      .then(function (r) {
        if (r.status !== 202) say("The sync could not be started (HTTP " + r.status + ").");
      })
      .catch(function () { say("The sync could not be started: the server did not answer."); });
  }
  document.getElementById("sync-all").addEventListener("submit", function (ev) {
    ev.preventDefault();
    syncNow(null);
  });
  document.addEventListener("click", function (ev) {
    var b = ev.target && ev.target.closest ? ev.target.closest("button[data-sync]") : null;
    if (b) syncNow(b.getAttribute("data-sync"));
  });
})();
`;
