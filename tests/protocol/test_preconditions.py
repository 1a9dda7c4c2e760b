"""PUT preconditions of RFC 4791 5.3.2.1: each failure is a 403 with a
DAV:error body naming the precondition plus a readable message, and
nothing is stored (GET 404, ctag unchanged)."""
import pytest

from helpers import (CAL, DAV, XML_CT, assert_dav_error, event_ics, getctag, mkcalendar_body,
                     new_calendar, norm_href, put, put_ok, q, req, uid, unfold, vcal, vevent,
                     vtodo)


def assert_rejected(s, cal, name, body, precond, ct="text/calendar; charset=utf-8"):
    before = getctag(s, cal)
    r = put(s, cal + name, body, ct=ct)
    el = assert_dav_error(r, CAL, precond)
    assert req(s, "GET", cal + name).status_code == 404
    assert getctag(s, cal) == before
    return el


def test_not_icalendar(alice):
    cal = new_calendar(alice)
    assert_rejected(alice, cal, "x.ics", "this is not a calendar\r\n", "valid-calendar-data")


def test_unterminated_vcalendar(alice):
    cal = new_calendar(alice)
    body = event_ics().replace("END:VCALENDAR\r\n", "")
    assert_rejected(alice, cal, "x.ics", body, "valid-calendar-data")


def test_bad_dtstart_value(alice):
    cal = new_calendar(alice)
    body = event_ics(start="notadate", end="20240610T110000Z")
    assert_rejected(alice, cal, "x.ics", body, "valid-calendar-data")


def test_bad_rrule_value(alice):
    cal = new_calendar(alice)
    body = event_ics(extra=["RRULE:FREQ=SOMETIMES;COUNT=x"])
    assert_rejected(alice, cal, "x.ics", body, "valid-calendar-data")


def assert_rejected_either(s, cal, name, body, preconds):
    """RFC 4791 leaves some cases between valid-calendar-data and
    valid-calendar-object-resource; either is right, nothing else is."""
    before = getctag(s, cal)
    r = put(s, cal + name, body)
    assert r.status_code == 403, (r.status_code, r.text[:300])
    from xml.etree import ElementTree as ET
    root = ET.fromstring(r.content)
    found = [p for p in preconds if root.find(q(CAL, p)) is not None]
    assert len(found) == 1, r.text
    assert_dav_error(r, CAL, found[0])
    assert req(s, "GET", cal + name).status_code == 404
    assert getctag(s, cal) == before


def test_two_vcalendars(alice):
    cal = new_calendar(alice)
    assert_rejected_either(alice, cal, "x.ics", event_ics() + event_ics(),
                           ["valid-calendar-data", "valid-calendar-object-resource"])


def test_missing_uid(alice):
    cal = new_calendar(alice)
    body = vcal("BEGIN:VEVENT\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240610T100000Z\r\n"
                "DTEND:20240610T110000Z\r\nSUMMARY:no uid\r\nEND:VEVENT\r\n")
    assert_rejected_either(alice, cal, "x.ics", body,
                           ["valid-calendar-data", "valid-calendar-object-resource"])


def test_two_uids(alice):
    cal = new_calendar(alice)
    body = vcal(vevent(uid(), "20240610T100000Z", "20240610T110000Z"),
                vevent(uid(), "20240611T100000Z", "20240611T110000Z"))
    assert_rejected(alice, cal, "x.ics", body, "valid-calendar-object-resource")


def test_method_property_forbidden(alice):
    # RFC 4791 4.1: calendar object resources MUST NOT specify METHOD
    cal = new_calendar(alice)
    body = event_ics().replace("VERSION:2.0\r\n", "VERSION:2.0\r\nMETHOD:REQUEST\r\n")
    assert_rejected(alice, cal, "x.ics", body, "valid-calendar-object-resource")


def test_mixed_component_types(alice):
    cal = new_calendar(alice)
    u = uid()
    body = vcal(vevent(u, "20240610T100000Z", "20240610T110000Z"),
                vtodo(u, "20240610T100000Z"))
    assert_rejected(alice, cal, "x.ics", body, "valid-calendar-object-resource")


def test_no_component_at_all(alice):
    cal = new_calendar(alice)
    assert_rejected(alice, cal, "x.ics", vcal(), "valid-calendar-object-resource")


def test_two_masters_same_uid(alice):
    cal = new_calendar(alice)
    u = uid()
    body = vcal(vevent(u, "20240610T100000Z", "20240610T110000Z"),
                vevent(u, "20240611T100000Z", "20240611T110000Z"))
    assert_rejected(alice, cal, "x.ics", body, "valid-calendar-object-resource")


def test_vjournal_into_vevent_only_calendar(alice):
    cal = new_calendar(alice, mkcalendar_body("Events", comps=["VEVENT"]))
    body = vcal("BEGIN:VJOURNAL\r\nUID:%s\r\nDTSTAMP:20240101T000000Z\r\n"
                "DTSTART;VALUE=DATE:20240610\r\nSUMMARY:notes\r\nEND:VJOURNAL\r\n" % uid())
    assert_rejected(alice, cal, "j.ics", body, "supported-calendar-component")


def test_vjournal_into_default_calendar(alice):
    cal = new_calendar(alice)
    body = vcal("BEGIN:VJOURNAL\r\nUID:%s\r\nDTSTAMP:20240101T000000Z\r\n"
                "SUMMARY:notes\r\nEND:VJOURNAL\r\n" % uid())
    assert_rejected(alice, cal, "j.ics", body, "supported-calendar-component")


def test_vtodo_into_vevent_only_calendar(alice):
    cal = new_calendar(alice, mkcalendar_body("Events", comps=["VEVENT"]))
    assert_rejected(alice, cal, "t.ics", vcal(vtodo(uid(), "20240610T100000Z")),
                    "supported-calendar-component")


def test_same_uid_in_second_resource(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "first.ics", event_ics(u))
    el = assert_rejected(alice, cal, "second.ics", event_ics(u, summary="dup"), "no-uid-conflict")
    hrefs = [norm_href(h.text) for h in el.iter(q(DAV, "href"))]
    assert hrefs == [cal + "first.ics"], hrefs
    # the first one is untouched
    assert "SUMMARY:Visit" in unfold(req(alice, "GET", cal + "first.ics").text)


def test_same_uid_in_other_calendar_is_fine(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    u = uid()
    put_ok(alice, a + "x.ics", event_ics(u))
    assert put(alice, b + "x.ics", event_ics(u)).status_code == 201


def test_changing_uid_of_existing_resource(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "c.ics", event_ics(u, summary="original"))
    etag = req(alice, "GET", cal + "c.ics").headers["ETag"]
    before = getctag(alice, cal)
    r = put(alice, cal + "c.ics", event_ics(uid(), summary="new uid"))
    assert_dav_error(r, CAL, "no-uid-conflict")
    g = req(alice, "GET", cal + "c.ics")
    assert g.headers["ETag"] == etag and "SUMMARY:original" in unfold(g.text)
    assert getctag(alice, cal) == before


def test_over_max_resource_size(alice):
    cal = new_calendar(alice)
    big = "DESCRIPTION:" + "x" * 60 + "".join("\r\n " + "y" * 70 for _ in range(16000))
    body = event_ics(extra=[big])
    assert len(body.encode()) > 1024 * 1024
    assert_rejected(alice, cal, "big.ics", body, "max-resource-size")


def test_max_resource_size_advertised(alice):
    cal = new_calendar(alice)
    from helpers import prop1
    assert int(prop1(alice, cal, q(CAL, "max-resource-size")).text) == 1024 * 1024


def test_just_under_max_resource_size_is_accepted(alice):
    cal = new_calendar(alice)
    body = event_ics(extra=["DESCRIPTION:" + "x" * 60 + "".join("\r\n " + "y" * 70
                                                                 for _ in range(13000))])
    assert 900 * 1024 < len(body.encode()) < 1024 * 1024
    assert put(alice, cal + "fits.ics", body).status_code == 201


@pytest.mark.parametrize("ct", ["application/json", "text/plain", "text/vcard", XML_CT])
def test_wrong_content_type(alice, ct):
    cal = new_calendar(alice)
    assert_rejected(alice, cal, "ct.ics", event_ics(), "supported-calendar-data", ct=ct)


def test_invalid_update_keeps_old_version(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "keep.ics", event_ics(u, summary="keep me"))
    etag = req(alice, "GET", cal + "keep.ics").headers["ETag"]
    before = getctag(alice, cal)
    r = put(alice, cal + "keep.ics", "BEGIN:VCALENDAR\r\ngarbage\r\n")
    assert_dav_error(r, CAL, "valid-calendar-data")
    g = req(alice, "GET", cal + "keep.ics")
    assert g.headers["ETag"] == etag and "SUMMARY:keep me" in unfold(g.text)
    assert getctag(alice, cal) == before


def test_error_body_is_not_empty_dav_error(alice):
    cal = new_calendar(alice)
    r = put(alice, cal + "e.ics", "nonsense")
    assert '<D:error xmlns:D="DAV:"/>' not in r.text
    assert r.text.strip()
