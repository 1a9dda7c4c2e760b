"""PUT / GET / HEAD / DELETE of calendar object resources (RFC 4918 9.4,
9.6, 9.7; RFC 9110 conditional requests; RFC 4791 5.3.4 ETags; checklist
2.3 items 17, 18, 20, 21, 26, 30) and GET of a whole calendar."""
import datetime as dt
import email.utils
import re
import uuid

import pytest

from helpers import (DAV, event_ics, getctag, home, new_calendar, parse_ical,
                     propfind_ms, put, put_ok, q, req, tz_ny, uid, unfold, vcal, vevent)

STRONG_ETAG = re.compile(r'^"[^"]+"$')


def test_put_new_201_then_update_204(alice):
    cal = new_calendar(alice)
    u = uid()
    r = put(alice, cal + "a.ics", event_ics(u, summary="first"))
    assert r.status_code == 201, r.text
    r = put(alice, cal + "a.ics", event_ics(u, summary="second"))
    assert r.status_code == 204, r.text
    g = req(alice, "GET", cal + "a.ics")
    assert "SUMMARY:second" in unfold(g.text)


def test_get_returns_exact_bytes(alice):
    cal = new_calendar(alice)
    ics = event_ics(summary="Grüße aus Köln – 华为")
    put_ok(alice, cal + "b.ics", ics)
    g = req(alice, "GET", cal + "b.ics")
    assert g.status_code == 200
    assert g.content == ics.encode("utf-8")


def test_etag_strong_quoted_and_equal_to_getetag(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "c.ics", event_ics())
    g = req(alice, "GET", cal + "c.ics")
    etag = g.headers.get("ETag")
    assert etag and STRONG_ETAG.match(etag), etag
    assert not etag.startswith("W/")
    assert propfind_ms(alice, cal + "c.ics", [q(DAV, "getetag")]).get(cal + "c.ics") \
        .text(q(DAV, "getetag")) == etag
    ms = propfind_ms(alice, cal, [q(DAV, "getetag")], depth="1")
    assert ms.get(cal + "c.ics").text(q(DAV, "getetag")) == etag


def test_put_etag_if_present_matches_stored_bytes(alice):
    # RFC 4791 5.3.4: a strong ETag in the PUT response promises that the
    # stored bytes are exactly those sent
    cal = new_calendar(alice)
    ics = event_ics()
    r = put_ok(alice, cal + "d.ics", ics)
    g = req(alice, "GET", cal + "d.ics")
    if "ETag" in r.headers:
        assert r.headers["ETag"] == g.headers["ETag"]
        assert g.content == ics.encode()


def test_etag_stable_and_changes_with_content(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "e.ics", event_ics(u, summary="one"))
    e1 = req(alice, "GET", cal + "e.ics").headers["ETag"]
    assert req(alice, "GET", cal + "e.ics").headers["ETag"] == e1
    assert req(alice, "HEAD", cal + "e.ics").headers["ETag"] == e1
    put_ok(alice, cal + "e.ics", event_ics(u, summary="two"))
    e2 = req(alice, "GET", cal + "e.ics").headers["ETag"]
    assert e2 != e1
    put_ok(alice, cal + "e.ics", event_ics(u, summary="one"))
    # derived from the stored bytes: same bytes, same tag
    assert req(alice, "GET", cal + "e.ics").headers["ETag"] == e1


def test_get_content_type_and_getcontenttype(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "f.ics", event_ics())
    g = req(alice, "GET", cal + "f.ics")
    parts = [p.strip().lower() for p in g.headers["Content-Type"].split(";")]
    assert parts[0] == "text/calendar"
    assert "charset=utf-8" in parts, g.headers["Content-Type"]
    gct = propfind_ms(alice, cal + "f.ics", [q(DAV, "getcontenttype")]).get(cal + "f.ics") \
        .text(q(DAV, "getcontenttype"))
    assert gct.lower().startswith("text/calendar"), gct


def test_last_modified(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "g.ics", event_ics())
    g = req(alice, "GET", cal + "g.ics")
    lm = email.utils.parsedate_to_datetime(g.headers["Last-Modified"])
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((now - lm).total_seconds()) < 120, (lm, now)
    glm = propfind_ms(alice, cal + "g.ics", [q(DAV, "getlastmodified")]).get(cal + "g.ics") \
        .text(q(DAV, "getlastmodified"))
    assert email.utils.parsedate_to_datetime(glm) == lm


def test_head_has_headers_and_no_body(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "h.ics", event_ics())
    g = req(alice, "GET", cal + "h.ics")
    h = req(alice, "HEAD", cal + "h.ics")
    assert h.status_code == 200
    assert h.content == b""
    assert h.headers["ETag"] == g.headers["ETag"]
    assert h.headers["Content-Type"] == g.headers["Content-Type"]
    if "Content-Length" in h.headers:
        assert int(h.headers["Content-Length"]) == len(g.content)


def test_head_missing_is_404(alice):
    cal = new_calendar(alice)
    h = req(alice, "HEAD", cal + "none.ics")
    assert h.status_code == 404 and h.content == b""


def test_if_none_match_star_on_existing_is_412(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "i.ics", event_ics(u, summary="orig"))
    r = put(alice, cal + "i.ics", event_ics(u, summary="clobber"), {"If-None-Match": "*"})
    assert r.status_code == 412
    assert "SUMMARY:orig" in unfold(req(alice, "GET", cal + "i.ics").text)


def test_if_none_match_star_on_new_is_201(alice):
    cal = new_calendar(alice)
    r = put(alice, cal + "j.ics", event_ics(), {"If-None-Match": "*"})
    assert r.status_code == 201


def test_if_match_wrong_is_412_right_is_204(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "k.ics", event_ics(u, summary="v1"))
    etag = req(alice, "GET", cal + "k.ics").headers["ETag"]
    r = put(alice, cal + "k.ics", event_ics(u, summary="v2"), {"If-Match": '"not-the-etag"'})
    assert r.status_code == 412
    assert req(alice, "GET", cal + "k.ics").headers["ETag"] == etag
    r = put(alice, cal + "k.ics", event_ics(u, summary="v2"), {"If-Match": etag})
    assert r.status_code == 204
    assert "SUMMARY:v2" in unfold(req(alice, "GET", cal + "k.ics").text)
    # the old tag is stale now
    r = put(alice, cal + "k.ics", event_ics(u, summary="v3"), {"If-Match": etag})
    assert r.status_code == 412


def test_if_match_on_missing_resource_is_412(alice):
    cal = new_calendar(alice)
    r = put(alice, cal + "l.ics", event_ics(), {"If-Match": '"abc"'})
    assert r.status_code == 412
    assert req(alice, "GET", cal + "l.ics").status_code == 404


def test_if_match_star_on_missing_is_412(alice):
    cal = new_calendar(alice)
    r = put(alice, cal + "l2.ics", event_ics(), {"If-Match": "*"})
    assert r.status_code == 412


def test_weak_etag_never_matches_if_match(alice):
    # RFC 9110 13.1.1: If-Match uses the strong comparison
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "w.ics", event_ics(u))
    etag = req(alice, "GET", cal + "w.ics").headers["ETag"]
    r = put(alice, cal + "w.ics", event_ics(u, summary="x"), {"If-Match": "W/" + etag})
    assert r.status_code == 412


def test_if_match_list_with_current_etag(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "m.ics", event_ics(u))
    etag = req(alice, "GET", cal + "m.ics").headers["ETag"]
    r = put(alice, cal + "m.ics", event_ics(u, summary="y"), {"If-Match": '"zzz", ' + etag})
    assert r.status_code == 204


def test_conditional_get_304(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "n.ics", event_ics())
    etag = req(alice, "GET", cal + "n.ics").headers["ETag"]
    r = req(alice, "GET", cal + "n.ics", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""


def test_delete_with_wrong_if_match_is_412(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "o.ics", event_ics())
    r = req(alice, "DELETE", cal + "o.ics", headers={"If-Match": '"wrong"'})
    assert r.status_code == 412
    assert req(alice, "GET", cal + "o.ics").status_code == 200


def test_delete_with_right_if_match_is_204(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "p.ics", event_ics())
    etag = req(alice, "GET", cal + "p.ics").headers["ETag"]
    r = req(alice, "DELETE", cal + "p.ics", headers={"If-Match": etag})
    assert r.status_code == 204
    assert req(alice, "GET", cal + "p.ics").status_code == 404


def test_delete_missing_is_404(alice):
    cal = new_calendar(alice)
    assert req(alice, "DELETE", cal + "never.ics").status_code == 404


def test_put_after_delete_is_created_again(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "q.ics", event_ics(u))
    assert req(alice, "DELETE", cal + "q.ics").status_code == 204
    # the UID is free again
    assert put(alice, cal + "q2.ics", event_ics(u)).status_code == 201


def test_get_missing_is_404(alice):
    cal = new_calendar(alice)
    assert req(alice, "GET", cal + "missing.ics").status_code == 404


def test_put_into_missing_collection_is_409(alice):
    r = put(alice, home(alice) + "no-such-%s/x.ics" % uuid.uuid4().hex[:6], event_ics())
    assert r.status_code == 409


def test_put_on_collection_is_405(alice):
    cal = new_calendar(alice)
    r = put(alice, cal, event_ics())
    assert r.status_code == 405


def test_ctag_changes_on_put_and_delete(alice):
    cal = new_calendar(alice)
    c0 = getctag(alice, cal)
    put_ok(alice, cal + "r.ics", event_ics())
    c1 = getctag(alice, cal)
    assert c1 != c0
    req(alice, "DELETE", cal + "r.ics")
    c2 = getctag(alice, cal)
    assert c2 not in (c0, c1)


def test_put_lf_only_body(alice):
    cal = new_calendar(alice)
    ics = event_ics(summary="lf only").replace("\r\n", "\n")
    r = put(alice, cal + "lf.ics", ics)
    assert r.status_code == 201, r.text
    assert "SUMMARY:lf only" in unfold(req(alice, "GET", cal + "lf.ics").text)


def test_put_without_trailing_newline(alice):
    cal = new_calendar(alice)
    ics = event_ics().rstrip("\r\n")
    assert put(alice, cal + "nonl.ics", ics).status_code == 201


def test_put_folded_lines(alice):
    cal = new_calendar(alice)
    summary = "Quarterly review with the regional purchasing team of Müller GmbH und Söhne"
    ics = event_ics(summary="PLACEHOLDER")
    folded = "SUMMARY:" + summary[:40] + "\r\n " + summary[40:60] + "\r\n\t" + summary[60:]
    ics = ics.replace("SUMMARY:PLACEHOLDER", folded)
    r = put(alice, cal + "fold.ics", ics)
    assert r.status_code == 201, r.text
    comp = parse_ical(req(alice, "GET", cal + "fold.ics").text)
    ev = comp.walk("VEVENT")[0]
    assert ev.value("SUMMARY") == summary


def test_put_content_type_without_charset(alice):
    cal = new_calendar(alice)
    r = put(alice, cal + "nocs.ics", event_ics(), ct="text/calendar")
    assert r.status_code == 201


def test_put_any_resource_name(alice):
    # Thunderbird uses sanitised UIDs, Apple UUIDs; names with odd characters work
    cal = new_calendar(alice)
    for name in ("040000008200E00074C5B7101A82E008_abc.ics", "A1B2-C3D4.ics", "no-extension",
                 "with%20space.ics"):
        r = put(alice, cal + name, event_ics())
        assert r.status_code == 201, (name, r.status_code)
        assert req(alice, "GET", cal + name).status_code == 200
    ms = propfind_ms(alice, cal, [q(DAV, "getetag")], depth="1")
    assert cal + "with space.ics" in ms.hrefs()


def test_propfind_depth1_lists_members_with_etag_and_type(alice):
    cal = new_calendar(alice)
    names = ["m%d.ics" % i for i in range(3)]
    for n in names:
        put_ok(alice, cal + n, event_ics())
    ms = propfind_ms(alice, cal, [q(DAV, "getetag"), q(DAV, "getcontenttype"),
                                  q(DAV, "resourcetype")], depth="1")
    assert ms.hrefs() == {cal} | {cal + n for n in names}
    for n in names:
        r = ms.get(cal + n)
        assert r.text(q(DAV, "getetag")) == req(alice, "GET", cal + n).headers["ETag"]
        assert r.text(q(DAV, "getcontenttype")).startswith("text/calendar")
        rt = r.prop(q(DAV, "resourcetype"))
        assert rt is not None and len(rt) == 0  # not a collection


def test_get_collection_returns_one_vcalendar(alice):
    cal = new_calendar(alice)
    tz = tz_ny()
    uids = [uid() for _ in range(3)]
    put_ok(alice, cal + "1.ics", vcal(vevent(uids[0], ";TZID=America/New_York:20240115T090000",
                                             ";TZID=America/New_York:20240115T100000"),
                                      timezones=[tz]))
    put_ok(alice, cal + "2.ics", vcal(vevent(uids[1], ";TZID=America/New_York:20240116T090000",
                                             ";TZID=America/New_York:20240116T100000"),
                                      timezones=[tz]))
    put_ok(alice, cal + "3.ics", event_ics(uids[2]))
    g = req(alice, "GET", cal)
    assert g.status_code == 200
    assert g.headers["Content-Type"].lower().startswith("text/calendar")
    root = parse_ical(g.text)
    assert [c.name for c in root.children] == ["VCALENDAR"]
    vc = root.children[0]
    assert sorted(e.value("UID") for e in vc.walk("VEVENT")) == sorted(uids)
    tzids = [t.value("TZID") for t in vc.children if t.name == "VTIMEZONE"]
    assert tzids == ["America/New_York"], tzids


def test_get_empty_collection(alice):
    cal = new_calendar(alice)
    g = req(alice, "GET", cal)
    assert g.status_code == 200
    root = parse_ical(g.text)
    assert [c.name for c in root.children] == ["VCALENDAR"]
    assert root.children[0].walk("VEVENT") == []


def test_get_collection_includes_todos(alice):
    cal = new_calendar(alice)
    from helpers import vtodo
    put_ok(alice, cal + "t.ics", vcal(vtodo("todo-" + uid(), "20240610T100000Z")))
    put_ok(alice, cal + "e.ics", event_ics())
    vc = parse_ical(req(alice, "GET", cal).text).children[0]
    assert len(vc.walk("VTODO")) == 1 and len(vc.walk("VEVENT")) == 1


def test_put_recurring_with_override_in_one_resource(alice):
    cal = new_calendar(alice)
    u = uid()
    ics = vcal(vevent(u, "20240101T100000Z", "20240101T110000Z", extra=["RRULE:FREQ=WEEKLY;COUNT=4"]),
               vevent(u, "20240110T100000Z", "20240110T110000Z", summary="moved",
                      extra=["RECURRENCE-ID:20240108T100000Z"]))
    assert put(alice, cal + "rec.ics", ics).status_code == 201


def test_get_collection_for_subscription(alice):
    # a plain GET of the calendar, as a subscribing client sends it
    cal = new_calendar(alice)
    put_ok(alice, cal + "s.ics", event_ics(summary="subscribed"))
    g = req(alice, "GET", cal, headers={"Accept": "text/calendar, */*"})
    assert g.status_code == 200
    vc = parse_ical(g.text).children[0]
    assert [e.value("SUMMARY") for e in vc.walk("VEVENT")] == ["subscribed"]


def _etag_promise(alice, cal, name, body):
    """RFC 4791 5.3.4 / issue 2: a PUT ETag promises the stored bytes are
    those sent; if the server rewrote them the PUT must carry no ETag."""
    r = put(alice, cal + name, body)
    assert r.status_code == 201, r.text
    g = req(alice, "GET", cal + name)
    sent = body.encode("utf-8") if isinstance(body, str) else body
    if "ETag" in r.headers:
        assert g.content == sent, "PUT returned an ETag but GET gives other bytes"
        assert r.headers["ETag"] == g.headers["ETag"]
    else:
        assert g.content != sent, "bytes kept as sent: the PUT should have returned the ETag"


def test_etag_promise_lf_body(alice):
    cal = new_calendar(alice)
    _etag_promise(alice, cal, "lf.ics", event_ics().replace("\r\n", "\n"))


def test_etag_promise_folded_body(alice):
    cal = new_calendar(alice)
    _etag_promise(alice, cal, "fold.ics",
                  event_ics(summary="PH").replace("SUMMARY:PH", "SUMMARY:a long\r\n  folded value"))


def test_etag_promise_plain_body(alice):
    cal = new_calendar(alice)
    _etag_promise(alice, cal, "plain.ics", event_ics())


def test_chunked_put(alice):
    cal = new_calendar(alice)
    ics = event_ics(summary="chunked")

    def gen():
        b = ics.encode()
        for i in range(0, len(b), 50):
            yield b[i:i + 50]

    r = alice.put(alice.base + cal + "chunk.ics", data=gen(),
                  headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert r.status_code == 201, r.text
    assert req(alice, "GET", cal + "chunk.ics").content == ics.encode()


def test_invalid_utf8_never_breaks_xml(alice):
    # RFC 5545 text is UTF-8.  Either the PUT is refused, or what was stored
    # still comes back inside well-formed multistatus XML.
    cal = new_calendar(alice)
    body = event_ics(summary="PH").encode().replace(b"SUMMARY:PH", b"SUMMARY:bad \xff\xfe byte")
    r = put(alice, cal + "bad.ics", body)
    if r.status_code == 403:
        from helpers import CAL, assert_dav_error
        assert_dav_error(r, CAL, "valid-calendar-data")
        return
    assert r.status_code == 201
    mg = ('<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
          '<D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>%sbad.ics</D:href>'
          '</C:calendar-multiget>' % cal)
    from helpers import Multistatus
    Multistatus(req(alice, "REPORT", cal, mg, {"Depth": "1",
                                                "Content-Type": "application/xml"}))


def test_get_collection_dedups_vtimezone_of_recurring_override(alice):
    cal = new_calendar(alice)
    tz = tz_ny()
    u = uid()
    put_ok(alice, cal + "r.ics", vcal(
        vevent(u, ";TZID=America/New_York:20240101T090000", ";TZID=America/New_York:20240101T100000",
               extra=["RRULE:FREQ=DAILY;COUNT=3"]),
        vevent(u, ";TZID=America/New_York:20240102T120000", ";TZID=America/New_York:20240102T130000",
               extra=["RECURRENCE-ID;TZID=America/New_York:20240102T090000"]),
        timezones=[tz]))
    put_ok(alice, cal + "s.ics", vcal(vevent(uid(), ";TZID=America/New_York:20240105T090000",
                                             ";TZID=America/New_York:20240105T100000"),
                                      timezones=[tz]))
    vc = parse_ical(req(alice, "GET", cal).text).children[0]
    assert [t.value("TZID") for t in vc.children if t.name == "VTIMEZONE"] == ["America/New_York"]
    assert len(vc.walk("VEVENT")) == 3


def test_head_on_collection(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "a.ics", event_ics())
    g = req(alice, "GET", cal)
    h = req(alice, "HEAD", cal)
    assert h.status_code == 200 and h.content == b""
    assert h.headers["Content-Type"] == g.headers["Content-Type"]


# RFC 4918 10.4: a class 1 server evaluates the If header (state tokens and
# entity tags); a false condition fails the request with 412.
IF_CASES = [
    ("unknown-lock-token", "(<opaquelocktoken:00000000-0000-0000-0000-000000000000>)", 412),
    ("wrong-etag", '(["not-the-etag"])', 412),
    ("right-etag", "(@ETAG@)", 204),
    ("no-lock-never-matches", "(<DAV:no-lock>)", 412),
    ("not-no-lock-always-true", "(Not <DAV:no-lock>)", 204),
    ("either-list-true", '(<DAV:no-lock>) (Not <DAV:no-lock>)', 204),
    ("malformed", "this is not an If header", 400),
]



@pytest.mark.parametrize("label,value,expected", IF_CASES, ids=[c[0] for c in IF_CASES])
def test_if_header_on_put(alice, label, value, expected):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "if.ics", event_ics(u, summary="before"))
    etag = req(alice, "GET", cal + "if.ics").headers["ETag"]
    r = put(alice, cal + "if.ics", event_ics(u, summary="after"),
            {"If": value.replace("@ETAG@", "[%s]" % etag)})
    assert r.status_code == expected, (label, r.status_code)
    changed = "SUMMARY:after" in unfold(req(alice, "GET", cal + "if.ics").text)
    assert changed == (expected == 204)


def test_if_header_on_delete(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "ifd.ics", event_ics())
    r = req(alice, "DELETE", cal + "ifd.ics", headers={"If": '(["nope"])'})
    assert r.status_code == 412
    assert req(alice, "GET", cal + "ifd.ics").status_code == 200
