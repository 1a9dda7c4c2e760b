"""What Thunderbird's CalDAV provider sends when an account is added and
synced (calendar/providers/caldav in comm-central, summarised in
shared/research sec. 2.1), replayed with its bodies and headers; each step
checks what Thunderbird reads from the answer."""
import uuid

import requests

from davutil import NS, Multistatus, body, href_text, ics, privileges, q

TB_HEADERS = {"Content-Type": "text/xml; charset=utf-8",
              "User-Agent": "Mozilla/5.0 Thunderbird/128.0"}
AUTH = ("alice", "alice-pw")
WRITE = {q("D:write"), q("D:write-content"), q("D:write-properties"), q("D:all")}


def dav(method, url, data=None, depth=None, **headers):
    h = dict(TB_HEADERS)
    if depth is not None:
        h["Depth"] = str(depth)
    h.update(headers)
    return requests.request(method, url, data=data, headers=h, auth=AUTH)


def test_thunderbird_account_setup_and_sync(server):
    base = server.url
    # 1. Detection on the URL the user typed (the server root).
    r = dav("PROPFIND", base + "/", body("thunderbird", "01-detect-propfind.xml"), 0)
    assert r.status_code == 207
    ms = Multistatus(r.text)
    root = ms.only()
    principal = href_text(ms.prop(root, "D:current-user-principal"))
    assert principal == "/principals/users/alice/"

    # 2. The principal's calendar-home-set.
    r = dav("PROPFIND", base + principal, body("thunderbird", "02-principal-homeset.xml"), 0)
    assert r.status_code == 207
    home = href_text(Multistatus(r.text).prop(principal, "C:calendar-home-set"))
    assert home == "/calendars/alice/"

    # 3. Calendars in the home: resourcetype calendar and writable.
    r = dav("PROPFIND", base + home, body("thunderbird", "03-home-depth1.xml"), 1)
    assert r.status_code == 207
    ms = Multistatus(r.text)
    cal = "/calendars/alice/visits/"
    assert cal in ms.responses
    assert ms.prop(cal, "D:resourcetype").find("C:calendar", NS) is not None
    assert privileges(ms.prop(cal, "D:current-user-privilege-set")) & WRITE
    assert ms.prop(cal, "D:displayname").text == "Visits"

    # 4. Per-calendar capabilities: any 4xx here disables the calendar.
    r = dav("PROPFIND", base + cal, body("thunderbird", "04-calendar-caps.xml"), 0)
    assert r.status_code == 207
    ms = Multistatus(r.text)
    reports = {rep[0][0].tag for rep in ms.prop(cal, "D:supported-report-set")}
    assert q("D:sync-collection") in reports      # else Thunderbird polls
    assert q("C:calendar-multiget") in reports
    comps = {c.get("name") for c in ms.prop(cal, "C:supported-calendar-component-set")}
    assert comps >= {"VEVENT", "VTODO"}
    ctag0 = ms.prop(cal, "CS:getctag").text
    assert ctag0

    # 5. OPTIONS on the home: calendar-access, no server scheduling claims.
    r = requests.options(base + home, auth=AUTH)
    assert r.status_code == 200
    dav_hdr = [t.strip() for t in r.headers["DAV"].split(",")]
    assert "calendar-access" in dav_hdr and "calendar-auto-schedule" not in dav_hdr
    assert "2" not in dav_hdr     # no LOCK, so no class 2

    # 6. First sync: empty token, Depth 1 and sync-level 1 together.
    r = dav("REPORT", base + cal, body("thunderbird", "05-sync.xml", token=""), 1)
    assert r.status_code == 207
    token = Multistatus(r.text).sync_token
    assert token

    # 7. New item: PUT with If-None-Match: *.
    uid = str(uuid.uuid4())
    href = cal + uid + ".ics"
    r = requests.put(base + href, data=ics("thunderbird", uid), auth=AUTH, headers={
        "Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
    assert r.status_code == 201

    # 8. Thunderbird re-fetches with multiget after every PUT.
    mg = body("thunderbird", "06-multiget.xml", hrefs=f"<D:href>{href}</D:href>")
    r = dav("REPORT", base + cal, mg, 1)
    assert r.status_code == 207
    ms = Multistatus(r.text)
    etag = ms.prop(href, "D:getetag").text
    assert etag.startswith('"') and "Müller Maschinenbau" in ms.prop(href, "C:calendar-data").text

    # 9. Incremental sync reports it, typed text/calendar.
    r = dav("REPORT", base + cal, body("thunderbird", "05-sync.xml", token=token), 1)
    ms = Multistatus(r.text)
    assert list(ms.responses) == [href]
    assert ms.prop(href, "D:getcontenttype").text.startswith("text/calendar")
    assert ms.prop(href, "D:getetag").text == etag
    token = ms.sync_token

    # 10. Edit with If-Match; a stale etag is a 412 (Thunderbird's conflict prompt).
    edited = ics("thunderbird", uid).replace(b"Stuttgart", b"Esslingen")
    r = requests.put(base + href, data=edited, auth=AUTH, headers={
        "Content-Type": "text/calendar; charset=utf-8", "If-Match": etag})
    assert r.status_code in (200, 204)
    r = requests.put(base + href, data=edited, auth=AUTH, headers={
        "Content-Type": "text/calendar; charset=utf-8", "If-Match": etag})
    assert r.status_code == 412

    # 11. Delete with the current etag; the sync reports a 404 response.
    cur = requests.head(base + href, auth=AUTH).headers["ETag"]
    r = requests.delete(base + href, auth=AUTH, headers={"If-Match": cur})
    assert r.status_code in (200, 204)
    r = dav("REPORT", base + cal, body("thunderbird", "05-sync.xml", token=token), 1)
    ms = Multistatus(r.text)
    assert ms.responses[href]["status"] == 404
    assert ms.responses[href]["props"] == {}

    # 12. A bad token: 403 valid-sync-token, never the bare <D:error/> that
    # Thunderbird reads as rate limiting.
    r = dav("REPORT", base + cal, body("thunderbird", "05-sync.xml",
                                       token="http://visitdav.org/ns/sync/999-999"), 1)
    assert r.status_code == 403
    assert "valid-sync-token" in r.text
    assert r.text.strip() != '<D:error xmlns:D="DAV:"/>'
    ctag1 = dav("PROPFIND", base + cal, body("thunderbird", "04-calendar-caps.xml"), 0)
    assert Multistatus(ctag1.text).prop(cal, "CS:getctag").text != ctag0
