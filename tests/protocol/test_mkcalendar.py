"""MKCALENDAR (RFC 4791 5.3.1), extended MKCOL (RFC 5689), plain MKCOL
(RFC 4918 9.3) and DELETE of collections."""
import uuid

from helpers import (APPLE, CAL, DAV, XML_CT, assert_dav_error, data,
                     event_ics, home, mkcalendar_body, new_calendar, propfind,
                     propfind_ms, put, put_ok, q, req, tz_calendar, tz_ny, vcal, vtodo)


def fresh(s):
    return home(s) + "mk-" + uuid.uuid4().hex[:10] + "/"


def apple_body():
    tz = tz_calendar(tz_ny()).replace("\r\n", "\n")
    return data("apple-mkcalendar.xml").replace("@TIMEZONE@", tz)


def test_mkcalendar_apple_body(alice):
    path = fresh(alice)
    r = req(alice, "MKCALENDAR", path, apple_body(), {"Content-Type": XML_CT})
    assert r.status_code == 201, r.text
    props = [q(DAV, "resourcetype"), q(DAV, "displayname"), q(APPLE, "calendar-color"),
             q(APPLE, "calendar-order"), q(CAL, "supported-calendar-component-set"),
             q(CAL, "calendar-timezone"), q(CAL, "schedule-calendar-transp")]
    resp = propfind_ms(alice, path, props).get(path)
    rt = resp.prop(q(DAV, "resourcetype"))
    assert rt.find(q(DAV, "collection")) is not None and rt.find(q(CAL, "calendar")) is not None
    assert resp.text(q(DAV, "displayname")) == "Kundenbesuche Süd"
    color = resp.prop(q(APPLE, "calendar-color"))
    assert color.text == "#FD8208FF" and color.get("symbolic-color") == "custom"
    assert resp.text(q(APPLE, "calendar-order")) == "7"
    comps = [c.get("name") for c in resp.prop(q(CAL, "supported-calendar-component-set"))
             .findall(q(CAL, "comp"))]
    assert comps == ["VEVENT"], comps
    tz = resp.text(q(CAL, "calendar-timezone"))
    assert "BEGIN:VTIMEZONE" in tz and "TZID:America/New_York" in tz
    transp = resp.prop(q(CAL, "schedule-calendar-transp"))
    assert transp is not None and transp.find(q(CAL, "opaque")) is not None


def test_mkcalendar_vevent_only_rejects_vtodo(alice):
    path = fresh(alice)
    r = req(alice, "MKCALENDAR", path, apple_body(), {"Content-Type": XML_CT})
    assert r.status_code == 201
    r = put(alice, path + "t.ics", vcal(vtodo(str(uuid.uuid4()), "20240610T100000Z")))
    assert_dav_error(r, CAL, "supported-calendar-component")
    put_ok(alice, path + "e.ics", event_ics())


def test_mkcalendar_without_body_defaults(alice):
    path = fresh(alice)
    r = req(alice, "MKCALENDAR", path)
    assert r.status_code == 201
    resp = propfind_ms(alice, path, [q(DAV, "resourcetype"),
                                     q(CAL, "supported-calendar-component-set")]).get(path)
    assert resp.prop(q(DAV, "resourcetype")).find(q(CAL, "calendar")) is not None
    comps = {c.get("name") for c in resp.prop(q(CAL, "supported-calendar-component-set"))
             .findall(q(CAL, "comp"))}
    assert {"VEVENT", "VTODO"} <= comps
    put_ok(alice, path + "e.ics", event_ics())
    put_ok(alice, path + "t.ics", vcal(vtodo(str(uuid.uuid4()), "20240610T100000Z")))


def test_mkcalendar_path_without_trailing_slash(alice):
    path = fresh(alice)
    r = req(alice, "MKCALENDAR", path[:-1])
    assert r.status_code == 201
    ms = propfind_ms(alice, path, [q(DAV, "resourcetype")])
    assert ms.get(path).prop(q(DAV, "resourcetype")).find(q(CAL, "calendar")) is not None


def test_mkcalendar_on_existing_is_405(alice):
    path = new_calendar(alice)
    r = req(alice, "MKCALENDAR", path)
    assert r.status_code == 405
    allow = {t.strip().upper() for t in r.headers.get("Allow", "").split(",")}
    assert "PROPFIND" in allow and "MKCALENDAR" not in allow, r.headers.get("Allow")


def test_mkcalendar_on_default_calendar_is_405(alice):
    req(alice, "PROPFIND", "/", None, {"Depth": "0"})
    assert req(alice, "MKCALENDAR", home(alice) + "visits/").status_code == 405


def test_mkcalendar_on_existing_resource_is_405(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "x.ics", event_ics())
    assert req(alice, "MKCALENDAR", cal + "x.ics").status_code == 405


def test_mkcalendar_inside_calendar_is_403(alice):
    cal = new_calendar(alice)
    r = req(alice, "MKCALENDAR", cal + "sub/")
    assert_dav_error(r, CAL, "calendar-collection-location-ok")
    assert propfind(alice, cal + "sub/", [q(DAV, "resourcetype")]).status_code == 404


def test_mkcol_inside_calendar_is_403(alice):
    cal = new_calendar(alice)
    r = req(alice, "MKCOL", cal + "sub/")
    assert r.status_code == 403
    assert propfind(alice, cal + "sub/", [q(DAV, "resourcetype")]).status_code == 404


def test_mkcalendar_missing_parent_is_409(alice):
    r = req(alice, "MKCALENDAR", home(alice) + "nope-%s/child/" % uuid.uuid4().hex[:6])
    assert r.status_code == 409


def test_mkcol_missing_parent_is_409(alice):
    r = req(alice, "MKCOL", home(alice) + "nope-%s/child/" % uuid.uuid4().hex[:6])
    assert r.status_code == 409


def test_mkcalendar_in_other_users_home_is_403(alice, bob):
    req(bob, "PROPFIND", "/", None, {"Depth": "0"})
    path = "/calendars/bob/" + uuid.uuid4().hex[:8] + "/"
    assert req(alice, "MKCALENDAR", path).status_code == 403
    assert propfind(bob, path, [q(DAV, "resourcetype")]).status_code == 404


def test_mkcalendar_malformed_body_is_400(alice):
    path = fresh(alice)
    r = req(alice, "MKCALENDAR", path, "<C:mkcalendar xmlns:C='urn:ietf:params:xml:ns:caldav'>",
            {"Content-Type": XML_CT})
    assert r.status_code == 400
    assert propfind(alice, path, [q(DAV, "resourcetype")]).status_code == 404


def test_mkcalendar_with_dead_property(alice):
    path = fresh(alice)
    body = mkcalendar_body("Dead", extra='<X:team xmlns:X="urn:x-example:mk" k="v">north</X:team>')
    assert req(alice, "MKCALENDAR", path, body, {"Content-Type": XML_CT}).status_code == 201
    resp = propfind_ms(alice, path, [q("urn:x-example:mk", "team")]).get(path)
    team = resp.prop(q("urn:x-example:mk", "team"))
    assert team is not None and team.text == "north" and team.get("k") == "v"


def test_extended_mkcol_creates_calendar(alice):
    path = fresh(alice)
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            '<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:set><D:prop>'
            '<D:resourcetype><D:collection/><C:calendar/></D:resourcetype>'
            '<D:displayname>Via MKCOL</D:displayname>'
            '<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>'
            '</D:prop></D:set></D:mkcol>')
    r = req(alice, "MKCOL", path, body, {"Content-Type": XML_CT})
    assert r.status_code == 201, r.text
    resp = propfind_ms(alice, path, [q(DAV, "resourcetype"), q(DAV, "displayname"),
                                     q(CAL, "supported-calendar-component-set")]).get(path)
    assert resp.prop(q(DAV, "resourcetype")).find(q(CAL, "calendar")) is not None
    assert resp.text(q(DAV, "displayname")) == "Via MKCOL"
    comps = [c.get("name") for c in resp.prop(q(CAL, "supported-calendar-component-set"))
             .findall(q(CAL, "comp"))]
    assert comps == ["VTODO"]
    put_ok(alice, path + "t.ics", vcal(vtodo(str(uuid.uuid4()), "20240610T100000Z")))
    assert_dav_error(put(alice, path + "e.ics", event_ics()), CAL, "supported-calendar-component")


def test_extended_mkcol_on_existing_is_405(alice):
    path = new_calendar(alice)
    body = ('<D:mkcol xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname>'
            '</D:prop></D:set></D:mkcol>')
    assert req(alice, "MKCOL", path, body, {"Content-Type": XML_CT}).status_code == 405


def test_plain_mkcol(alice):
    path = fresh(alice)
    r = req(alice, "MKCOL", path)
    assert r.status_code == 201
    rt = propfind_ms(alice, path, [q(DAV, "resourcetype")]).get(path).prop(q(DAV, "resourcetype"))
    assert rt.find(q(DAV, "collection")) is not None
    assert rt.find(q(CAL, "calendar")) is None


def test_mkcol_unknown_body_type_is_415(alice):
    path = fresh(alice)
    r = req(alice, "MKCOL", path, b"\x00\x01binary-stuff", {"Content-Type": "application/x-unknown"})
    assert r.status_code == 415
    assert propfind(alice, path, [q(DAV, "resourcetype")]).status_code == 404


def test_mkcol_wrong_xml_root_is_rejected(alice):
    path = fresh(alice)
    r = req(alice, "MKCOL", path, '<D:propfind xmlns:D="DAV:"/>', {"Content-Type": XML_CT})
    assert r.status_code in (400, 415), r.status_code
    assert propfind(alice, path, [q(DAV, "resourcetype")]).status_code == 404


def test_mkcol_on_existing_is_405(alice):
    path = new_calendar(alice)
    assert req(alice, "MKCOL", path).status_code == 405


def test_delete_calendar_removes_members(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "a.ics", event_ics())
    r = req(alice, "DELETE", cal)
    assert r.status_code == 204
    assert req(alice, "GET", cal + "a.ics").status_code == 404
    assert propfind(alice, cal, [q(DAV, "resourcetype")]).status_code == 404
    ms = propfind_ms(alice, home(alice), [q(DAV, "resourcetype")], depth="1")
    assert cal not in ms.hrefs()


def test_recreate_calendar_after_delete_is_empty(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "a.ics", event_ics())
    assert req(alice, "DELETE", cal).status_code == 204
    assert req(alice, "MKCALENDAR", cal).status_code == 201
    ms = propfind_ms(alice, cal, [q(DAV, "getetag")], depth="1")
    assert ms.hrefs() == {cal}


def test_mkcalendar_with_displayname(alice):
    path = fresh(alice)
    r = req(alice, "MKCALENDAR", path, mkcalendar_body("Nice"), {"Content-Type": XML_CT})
    assert r.status_code == 201
    resp = propfind_ms(alice, path, [q(DAV, "displayname")]).get(path)
    assert resp.text(q(DAV, "displayname")) == "Nice"
