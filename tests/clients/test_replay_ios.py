"""What iOS/macOS Calendar sends when an account is added and synced
(Apple's CCS load-test request bodies and server logs, summarised in
shared/research sec. 2.2), replayed with its bodies and headers."""
import uuid

import requests

from davutil import NS, Multistatus, body, href_text, ics, q

AUTH = ("alice", "alice-pw")
APPLE = {"User-Agent": "iOS/17.0 (21A329) dataaccessd/1.0",
         "Content-Type": "text/xml", "Accept-Encoding": "gzip, deflate"}


def dav(method, url, data=None, depth=None, auth=AUTH, **headers):
    h = dict(APPLE)
    if depth is not None:
        h["Depth"] = str(depth)
    h.update(headers)
    return requests.request(method, url, data=data, headers=h, auth=auth,
                            allow_redirects=False)


def test_ios_account_setup_and_sync(server):
    base = server.url
    # 1. Anonymous probe of the well-known URL, then the challenge.
    r = dav("PROPFIND", base + "/.well-known/caldav",
            body("ios", "01-wellknown-propfind.xml"), 0, auth=None)
    assert r.status_code in (301, 308)
    target = r.headers["Location"]
    assert target.endswith("/")
    r = dav("PROPFIND", base + "/", body("ios", "01-wellknown-propfind.xml"), 0, auth=None)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    r = dav("PROPFIND", base + "/", body("ios", "01-wellknown-propfind.xml"), 0)
    assert r.status_code == 207
    ms = Multistatus(r.text)
    principal = href_text(ms.prop(ms.only(), "D:current-user-principal"))
    assert principal == "/principals/users/alice/"

    # 2. Principal: the properties Apple needs come back, unknown ones are
    # 404 propstats and never fail the request.
    r = dav("PROPFIND", base + principal, body("ios", "02-principal-propfind.xml"), 0)
    assert r.status_code == 207
    ms = Multistatus(r.text)
    assert href_text(ms.prop(principal, "C:calendar-home-set")) == "/calendars/alice/"
    assert href_text(ms.prop(principal, "D:principal-URL")) == principal
    assert ms.prop(principal, "D:principal-collection-set") is not None
    assert ms.prop(principal, "C:calendar-user-address-set") is not None
    assert ms.status_of(principal, "CS:dropbox-home-URL") == 404
    # No scheduling implemented, so no inbox/outbox is advertised.
    assert ms.status_of(principal, "C:schedule-inbox-URL") == 404

    # 3. principal-search-property-set.
    r = dav("REPORT", base + principal, body("ios", "03-principal-search-property-set.xml"), 0)
    assert r.status_code == 200
    assert "principal-search-property-set" in r.text

    # 4. The home, Depth 1, with Brief and Prefer: calendars as children,
    # no 404 propstats.
    r = dav("PROPFIND", base + "/calendars/alice/", body("ios", "04-home-depth1.xml"), 1,
            Brief="t", Prefer="return=minimal")
    assert r.status_code == 207
    assert "Brief" in r.headers.get("Vary", "") and "Prefer" in r.headers.get("Vary", "")
    ms = Multistatus(r.text)
    cal = "/calendars/alice/visits/"
    assert cal in ms.responses
    assert ms.prop(cal, "D:resourcetype").find("C:calendar", NS) is not None
    assert ms.prop(cal, "D:sync-token") is not None
    assert ms.prop(cal, "CS:getctag") is not None
    for href, resp in ms.responses.items():
        assert all(code != 404 for code, _ in resp["props"].values()), href

    # 5. PROPPATCH of a default alarm on the home (a dead property).
    r = dav("PROPPATCH", base + "/calendars/alice/", body("ios", "05-home-proppatch-alarm.xml"))
    assert r.status_code == 207
    ms = Multistatus(r.text)
    assert ms.status_of(ms.only(), "C:default-alarm-vevent-datetime") == 200

    # 6. MKCALENDAR with Apple's property set, then read it back.
    new_cal = f"/calendars/alice/{uuid.uuid4()}/"
    r = dav("MKCALENDAR", base + new_cal, body("ios", "06-mkcalendar.xml"))
    assert r.status_code == 201
    r = dav("PROPFIND", base + new_cal, body("ios", "04-home-depth1.xml"), 0)
    ms = Multistatus(r.text)
    color = ms.prop(new_cal, "A:calendar-color")
    assert color.text == "#FD8208FF" and color.get("symbolic-color") == "orange"
    assert ms.prop(new_cal, "D:displayname").text == "Customer visits"
    assert ms.prop(new_cal, "A:calendar-order").text == "2"
    comps = {c.get("name") for c in ms.prop(new_cal, "C:supported-calendar-component-set")}
    assert comps == {"VEVENT"}
    assert "TZID:Europe/Berlin" in ms.prop(new_cal, "C:calendar-timezone").text

    # 7. First sync without sync-level (the OS X 10.7 body).
    r = dav("REPORT", base + new_cal, body("ios", "07-sync-no-level.xml", token=""))
    assert r.status_code == 207
    token = Multistatus(r.text).sync_token

    # 8. An all-day event under a UUID name, then multiget with schedule-tag.
    uid = str(uuid.uuid4()).upper()
    href = new_cal + uid + ".ics"
    r = requests.put(base + href, data=ics("ios", uid), auth=AUTH,
                     headers={"Content-Type": "text/calendar", "If-None-Match": "*"})
    assert r.status_code == 201
    r = dav("REPORT", base + new_cal,
            body("ios", "08-multiget.xml", hrefs=f"<A:href xmlns:A=\"DAV:\">{href}</A:href>"), 1)
    assert r.status_code == 207
    ms = Multistatus(r.text)
    assert "Trade fair 华为" in ms.prop(href, "C:calendar-data").text
    assert ms.status_of(href, "C:schedule-tag") == 404

    # 9. iOS moves an event to another calendar with MOVE.
    dest = cal + uid + ".ics"
    r = dav("MOVE", base + href, Destination=base + dest, Overwrite="F")
    assert r.status_code == 201
    assert requests.get(base + dest, auth=AUTH).status_code == 200
    r = dav("REPORT", base + new_cal, body("ios", "07-sync-no-level.xml", token=token))
    ms = Multistatus(r.text)
    assert ms.responses[href]["status"] == 404

    # 10. Apple deletes the calendar it made.
    assert dav("DELETE", base + new_cal).status_code == 204
    assert dav("PROPFIND", base + new_cal, None, 0).status_code == 404
