"""REPORT calendar-multiget (RFC 4791 7.9): 1,000 hrefs in one request,
a missing one answered as a response-level 404, getetag + calendar-data for
the rest (checklist 2.3 item 19)."""
import pytest
import requests

from helpers import (CAL, DAV, XML_CT, Multistatus, event_ics, new_calendar, put_ok, q, req,
                     uid)

N = 1000


def multiget_body(hrefs, props="<D:getetag/><C:calendar-data/>"):
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop>%s</D:prop>%s</C:calendar-multiget>'
            % (props, "".join("<D:href>%s</D:href>" % h for h in hrefs)))


def multiget(s, cal, hrefs, props="<D:getetag/><C:calendar-data/>"):
    return req(s, "REPORT", cal, multiget_body(hrefs, props),
               {"Depth": "1", "Content-Type": XML_CT})


@pytest.fixture(scope="module")
def big(server):
    """A calendar with 1,000 events (created once for this module)."""
    s = requests.Session()
    s.auth = ("alice", "alice-pw")
    s.base = server.url
    cal = new_calendar(s)
    bodies = {}
    for i in range(N):
        name = "ev-%04d.ics" % i
        bodies[name] = event_ics(uid(), "20240610T%02d0000Z" % (i % 20),
                                 "20240610T%02d3000Z" % (i % 20), summary="Visit %d" % i)
        put_ok(s, cal + name, bodies[name])
    return cal, bodies


def test_multiget_1000_hrefs_with_one_missing(alice, big):
    cal, bodies = big
    hrefs = [cal + n for n in sorted(bodies)] + [cal + "missing.ics"]
    ms = Multistatus(multiget(alice, cal, hrefs))
    by = ms.by_href()
    assert set(by) == set(hrefs)
    miss = by[cal + "missing.ics"]
    assert miss.status == 404 and miss.propstats == []
    etags = Multistatus(req(alice, "PROPFIND", cal, '<D:propfind xmlns:D="DAV:"><D:prop>'
                            '<D:getetag/></D:prop></D:propfind>',
                            {"Depth": "1", "Content-Type": XML_CT})).by_href()
    for name, body in bodies.items():
        r = by[cal + name]
        assert r.status is None
        assert r.text(q(DAV, "getetag")) == etags[cal + name].text(q(DAV, "getetag"))
        assert r.text(q(CAL, "calendar-data")).replace("\r\n", "\n") == body.replace("\r\n", "\n")


def test_multiget_getetag_only(alice, big):
    cal, bodies = big
    names = sorted(bodies)[:5]
    ms = Multistatus(multiget(alice, cal, [cal + n for n in names], props="<D:getetag/>"))
    assert ms.hrefs() == {cal + n for n in names}
    for r in ms.responses:
        assert r.prop(q(DAV, "getetag")) is not None
        assert r.prop_status(q(CAL, "calendar-data")) is None


def test_multiget_small(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "a.ics", event_ics(summary="A"))
    put_ok(alice, cal + "b.ics", event_ics(summary="B"))
    ms = Multistatus(multiget(alice, cal, [cal + "a.ics", cal + "b.ics"]))
    assert ms.hrefs() == {cal + "a.ics", cal + "b.ics"}
    assert "SUMMARY:A" in ms.get(cal + "a.ics").text(q(CAL, "calendar-data"))


def test_multiget_encoded_href(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "with%20space.ics", event_ics(summary="spaced"))
    ms = Multistatus(multiget(alice, cal, [cal + "with%20space.ics"]))
    r = ms.get(cal + "with space.ics")
    assert "SUMMARY:spaced" in r.text(q(CAL, "calendar-data"))


def test_multiget_absolute_url_href(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "abs.ics", event_ics())
    ms = Multistatus(multiget(alice, cal, [alice.base + cal + "abs.ics"]))
    r = ms.get(cal + "abs.ics")
    assert r.prop(q(DAV, "getetag")) is not None


def test_multiget_unknown_property_is_404_propstat(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "u.ics", event_ics())
    ms = Multistatus(multiget(alice, cal, [cal + "u.ics"],
                              props='<D:getetag/><C:schedule-tag/><X:nope xmlns:X="urn:x"/>'))
    r = ms.get(cal + "u.ics")
    assert r.prop_status(q(DAV, "getetag")) == 200
    assert r.prop_status(q(CAL, "schedule-tag")) == 404
    assert r.prop_status(q("urn:x", "nope")) == 404


def test_multiget_all_missing(alice):
    cal = new_calendar(alice)
    ms = Multistatus(multiget(alice, cal, [cal + "x1.ics", cal + "x2.ics"]))
    for r in ms.responses:
        assert r.status == 404
    assert ms.hrefs() == {cal + "x1.ics", cal + "x2.ics"}


def test_multiget_href_of_other_users_calendar_not_served(alice, bob):
    put_ok(bob, "/calendars/bob/visits/secret-%s.ics" % "mg", event_ics(summary="bob secret"))
    cal = new_calendar(alice)
    r = multiget(alice, cal, ["/calendars/bob/visits/secret-mg.ics"])
    assert "bob secret" not in r.text
    if r.status_code == 207:
        resp = Multistatus(r).get("/calendars/bob/visits/secret-mg.ics")
        assert resp.status in (403, 404)
    else:
        assert r.status_code in (403, 404)


def test_multiget_without_hrefs_is_rejected_or_empty(alice):
    cal = new_calendar(alice)
    r = multiget(alice, cal, [])
    if r.status_code == 207:
        assert Multistatus(r).responses == []
    else:
        assert r.status_code == 400
