#!/usr/bin/env python3
"""python3-caldav (0.11, Debian) scenario against a CalDAV server.

Usage: python_caldav_scenario.py BASE_URL USER PASSWORD [OTHER_USER OTHER_PASSWORD]

Prints one JSON line per check: {"check": ..., "ok": true|false, "detail": ...}; exits 1 if any
check failed. Checks continue after a failure where they do not depend on it.
"""
import json
import sys
import traceback
import uuid
from datetime import datetime, timezone

import caldav
from caldav.lib import error

BASE, USER, PASSWORD = sys.argv[1], sys.argv[2], sys.argv[3]
OTHER = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else None
failed = False


def emit(check, ok, detail=None):
    global failed
    if not ok:
        failed = True
    print(json.dumps({"check": check, "ok": bool(ok), "detail": detail}, default=str), flush=True)


def check(name):
    """Decorator-ish runner: run fn, emit ok/fail with detail, return its value (None on failure)."""
    def wrap(fn):
        try:
            ok, detail, value = fn()
            emit(name, ok, detail)
            return value if ok else None
        except Exception as e:  # noqa: BLE001 - every failure becomes a failed check
            emit(name, False, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}")
            return None
    return wrap


def utc(*a):
    return datetime(*a, tzinfo=timezone.utc)


RUN = uuid.uuid4().hex[:8]
SINGLE = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//calgate python-caldav test//EN
BEGIN:VEVENT
UID:single-{RUN}@pycaldav.test
DTSTAMP:20240101T000000Z
DTSTART:20240305T100000Z
DTEND:20240305T110000Z
SUMMARY:Single
END:VEVENT
END:VCALENDAR
"""
# Weekly, 10 occurrences from 2024-01-01 09:00Z; 2024-01-15 excluded; 2024-01-22 moved to 14:00Z.
WEEKLY = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//calgate python-caldav test//EN
BEGIN:VEVENT
UID:weekly-{RUN}@pycaldav.test
DTSTAMP:20240101T000000Z
DTSTART:20240101T090000Z
DTEND:20240101T100000Z
RRULE:FREQ=WEEKLY;COUNT=10
EXDATE:20240115T090000Z
SUMMARY:Weekly
END:VEVENT
BEGIN:VEVENT
UID:weekly-{RUN}@pycaldav.test
DTSTAMP:20240101T000000Z
RECURRENCE-ID:20240122T090000Z
DTSTART:20240122T140000Z
DTEND:20240122T150000Z
SUMMARY:Weekly (moved)
END:VEVENT
END:VCALENDAR
"""
TODO = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//calgate python-caldav test//EN
BEGIN:VTODO
UID:todo-{RUN}@pycaldav.test
DTSTAMP:20240101T000000Z
DUE:20240110T170000Z
SUMMARY:Todo
STATUS:NEEDS-ACTION
END:VTODO
END:VCALENDAR
"""

client = caldav.DAVClient(url=BASE, username=USER, password=PASSWORD)

principal = check("principal")(lambda: (lambda p: (True, str(p.url), p))(client.principal()))
if principal is None:
    sys.exit(1)

cals = check("calendars")(lambda: (lambda cs: (len(cs) >= 1, [str(c.url) for c in cs], cs))(principal.calendars()))

name = f"pycaldav-{RUN}"


def _make():
    c = principal.make_calendar(name=name)
    urls = [str(x.url) for x in principal.calendars()]
    return (str(c.url) in urls, {"url": str(c.url), "listed": urls}, c)


cal = check("make_calendar")(_make)
if cal is None:
    sys.exit(1)

single = check("save_event single")(lambda: (lambda e: (True, str(e.url), e))(cal.save_event(SINGLE)))
weekly = check("save_event weekly+EXDATE+override")(lambda: (lambda e: (True, str(e.url), e))(cal.save_event(WEEKLY)))
todo = check("save_todo")(lambda: (lambda t: (True, str(t.url), t))(cal.save_todo(TODO)))


def summaries(objs):
    out = []
    for o in objs:
        for comp in o.icalendar_instance.walk():
            if comp.name in ("VEVENT", "VTODO"):
                out.append((str(comp.get("SUMMARY")), comp.get("DTSTART").dt.isoformat() if comp.get("DTSTART") else None))
    return sorted(out, key=lambda x: x[1] or "")


def _search_jan():
    objs = cal.search(start=utc(2024, 1, 1), end=utc(2024, 2, 1), event=True, expand=True)
    s = summaries(objs)
    # Jan 1, Jan 8, Jan 22 (moved to 14:00), Jan 29; Jan 15 excluded; the March event is outside.
    expected = [("Weekly", "2024-01-01T09:00:00+00:00"), ("Weekly", "2024-01-08T09:00:00+00:00"),
                ("Weekly (moved)", "2024-01-22T14:00:00+00:00"), ("Weekly", "2024-01-29T09:00:00+00:00")]
    return (s == expected, {"got": s, "expected": expected}, None)


check("search(start, end, event=True, expand=True) instances")(_search_jan)


def _date_search_march():
    objs = cal.date_search(utc(2024, 3, 1), utc(2024, 4, 1), expand=True)
    s = summaries(objs)
    expected = [("Weekly", "2024-03-04T09:00:00+00:00"), ("Single", "2024-03-05T10:00:00+00:00")]
    return (s == expected, {"got": s, "expected": expected}, None)


check("date_search(start, end, expand=True) instances")(_date_search_march)


def _todos():
    ts = cal.todos()
    return (len(ts) == 1 and f"todo-{RUN}" in ts[0].data, [t.data[:80] for t in ts], None)


check("todos()")(_todos)


def _freebusy():
    fb = cal.freebusy_request(utc(2024, 1, 1), utc(2024, 2, 1))
    data = fb.data if fb is not None else ""
    ok = data is not None and "VFREEBUSY" in data and "FREEBUSY" in data.replace("VFREEBUSY", "")
    return (ok, data, None)


check("freebusy_request answers with busy periods")(_freebusy)


def _sync_initial():
    col = cal.objects_by_sync_token(load_objects=True)
    urls = sorted(str(o.url) for o in col)
    want = sorted(str(x.url) for x in (single, weekly, todo) if x is not None)
    return (urls == want and bool(col.sync_token), {"urls": urls, "want": want, "token": col.sync_token}, col)


col = check("objects_by_sync_token initial")(_sync_initial)


def _modify_and_delete():
    single.icalendar_component["SUMMARY"] = "Single (edited)"
    single.save()
    todo.delete()
    return (True, None, True)


changed = check("modify event + delete todo")(_modify_and_delete) if (single and todo) else None


def _sync_incremental():
    updated, deleted = col.sync()
    u = sorted(str(o.url) for o in updated)
    dl = sorted(str(o.url) for o in deleted)
    ok = u == [str(single.url)] and dl == [str(todo.url)] and "Single (edited)" in updated[0].data
    return (ok, {"updated": u, "deleted": dl}, None)


if col is not None and changed:
    check("sync() incremental: one updated, one deleted")(_sync_incremental)


def _by_token_again():
    # After sync() nothing changed: an incremental report with the new token lists nothing.
    again = cal.objects_by_sync_token(sync_token=col.sync_token, load_objects=False)
    return (len(list(again)) == 0, [str(o.url) for o in again], None)


if col is not None:
    check("objects_by_sync_token(token) with nothing changed is empty")(_by_token_again)


def _multiget():
    evs = cal.calendar_multiget([single.url, weekly.url])
    datas = {str(e.url): e.data for e in evs}
    ok = len(evs) == 2 and any("Single (edited)" in d for d in datas.values()) and any("RRULE:FREQ=WEEKLY" in d for d in datas.values())
    return (ok, list(datas.keys()), None)


if hasattr(cal, "calendar_multiget") and single and weekly:
    check("calendar_multiget")(_multiget)


def _event_delete():
    weekly.delete()
    try:
        cal.event_by_url(weekly.url).load()
        return (False, "still there after delete", None)
    except error.NotFoundError:
        return (True, None, None)


if weekly:
    check("event.delete() then 404")(_event_delete)

if OTHER is not None:
    def _isolation():
        other = caldav.DAVClient(url=BASE, username=OTHER[0], password=OTHER[1])
        other_cals = [str(c.url) for c in other.principal().calendars()]
        leaked = [u for u in other_cals if u == str(cal.url)]
        try:
            foreign = other.calendar(url=str(cal.url))
            objs = foreign.objects_by_sync_token(load_objects=False)
            return (False, {"leaked_objects": [str(o.url) for o in objs]}, None)
        except (error.AuthorizationError, error.NotFoundError, error.ReportError, error.DAVError) as e:
            status = getattr(e, "reason", "") or str(e)
            ok = not leaked and ("403" in str(e) or "404" in str(e) or isinstance(e, (error.AuthorizationError, error.NotFoundError)))
            return (ok, {"other_calendars": other_cals, "error": f"{type(e).__name__}: {status}"}, None)

    check("second user cannot see or read the calendar")(_isolation)


def _cal_delete():
    url = str(cal.url)
    cal.delete()
    urls = [str(c.url) for c in principal.calendars()]
    return (url not in urls, urls, None)


check("calendar delete")(_cal_delete)
sys.exit(1 if failed else 0)
