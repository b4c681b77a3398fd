"""python3-caldav (Debian) as a real client of a merged calendar: discovery finds it, a sync-token
sync lists the union, save_event creates through it, an edit and a delete of members go through it,
and a second sync-token sync reports exactly those changes. Prints one JSON object."""
import json
import sys

import caldav

BASE, USER, PASSWORD, MERGED = sys.argv[1:5]
out = {}
client = caldav.DAVClient(url=BASE, username=USER, password=PASSWORD)
principal = client.principal()
cal = next(c for c in principal.calendars() if str(c.url).rstrip("/").endswith("/" + MERGED))
out["displayname"] = cal.get_properties([caldav.dav.DisplayName()]).get("{DAV:}displayname")
objs = cal.objects_by_sync_token(load_objects=True)
out["initial"] = sorted(o.icalendar_component["uid"] for o in objs)
token = objs.sync_token

NEW = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//calgate merged python-caldav test//EN
BEGIN:VEVENT
UID:py-new@merged.test
DTSTAMP:20261201T000000Z
DTSTART:20261220T100000Z
DTEND:20261220T110000Z
SUMMARY:Made through the merged calendar
END:VEVENT
END:VCALENDAR
"""
created = cal.save_event(NEW)
out["created_url"] = str(created.url)

edit_uid, delete_uid = sys.argv[5], sys.argv[6]
for o in cal.objects(load_objects=True):
    uid = str(o.icalendar_component["uid"])
    if uid == edit_uid:
        o.icalendar_component["summary"] = "Edited through the merged calendar"
        o.save()
    elif uid == delete_uid:
        o.delete()

changes = cal.objects_by_sync_token(sync_token=token, load_objects=False)
out["changed_hrefs"] = sorted(str(o.url).rsplit("/", 1)[1] for o in changes)
out["final"] = sorted(str(o.icalendar_component["uid"]) for o in cal.objects(load_objects=True))
print(json.dumps(out))
