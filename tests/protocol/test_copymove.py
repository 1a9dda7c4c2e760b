"""COPY and MOVE (RFC 4918 9.8, 9.9; RFC 4791 5.3.2 preconditions on the
destination).  iOS moves events between calendars with MOVE."""
from helpers import (CAL, DAV, XML_CT, Multistatus, assert_dav_error, event_ics, getctag,
                     home, mkcalendar_body, new_calendar, norm_href, propfind, propfind_ms,
                     put_ok, q, req, uid, unfold, vcal, vtodo)


def move(s, src, dst, overwrite=None, method="MOVE", absolute=True):
    h = {"Destination": (s.base + dst) if absolute else dst}
    if overwrite is not None:
        h["Overwrite"] = overwrite
    return req(s, method, src, headers=h)


def sync(s, cal, token):
    body = ('<D:sync-collection xmlns:D="DAV:"><D:sync-token>%s</D:sync-token>'
            '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>'
            % (token or ""))
    return Multistatus(req(s, "REPORT", cal, body, {"Depth": "1", "Content-Type": XML_CT}))


def test_move_event_between_calendars(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    ics = event_ics(summary="moving")
    put_ok(alice, a + "m.ics", ics)
    r = move(alice, a + "m.ics", b + "m.ics")
    assert r.status_code == 201, r.text
    assert req(alice, "GET", a + "m.ics").status_code == 404
    g = req(alice, "GET", b + "m.ics")
    assert g.status_code == 200 and g.content == ics.encode()


def test_move_with_path_only_destination(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "p.ics", event_ics())
    assert move(alice, a + "p.ics", b + "p.ics", absolute=False).status_code == 201
    assert req(alice, "GET", b + "p.ics").status_code == 200


def test_move_renames_within_calendar(alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "old.ics", event_ics(u))
    assert move(alice, cal + "old.ics", cal + "new.ics").status_code == 201
    assert req(alice, "GET", cal + "old.ics").status_code == 404
    assert req(alice, "GET", cal + "new.ics").status_code == 200
    # the UID index follows: a new resource with that UID conflicts with new.ics
    from helpers import put
    r = put(alice, cal + "again.ics", event_ics(u))
    el = assert_dav_error(r, CAL, "no-uid-conflict")
    assert [norm_href(h.text) for h in el.iter(q(DAV, "href"))] == [cal + "new.ics"]


def test_move_updates_ctags_of_both(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "c.ics", event_ics())
    ca, cb = getctag(alice, a), getctag(alice, b)
    assert move(alice, a + "c.ics", b + "c.ics").status_code == 201
    assert getctag(alice, a) != ca
    assert getctag(alice, b) != cb


def test_move_overwrite_false_onto_existing_is_412(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "x.ics", event_ics(summary="source"))
    put_ok(alice, b + "x.ics", event_ics(summary="target"))
    r = move(alice, a + "x.ics", b + "x.ics", overwrite="F")
    assert r.status_code == 412
    assert "SUMMARY:source" in unfold(req(alice, "GET", a + "x.ics").text)
    assert "SUMMARY:target" in unfold(req(alice, "GET", b + "x.ics").text)


def test_move_overwrite_true_onto_existing_is_204(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "y.ics", event_ics(summary="source"))
    put_ok(alice, b + "y.ics", event_ics(summary="target"))
    r = move(alice, a + "y.ics", b + "y.ics", overwrite="T")
    assert r.status_code == 204
    assert req(alice, "GET", a + "y.ics").status_code == 404
    assert "SUMMARY:source" in unfold(req(alice, "GET", b + "y.ics").text)


def test_move_into_calendar_with_same_uid_is_no_uid_conflict(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    u = uid()
    put_ok(alice, a + "u.ics", event_ics(u))
    put_ok(alice, b + "other-name.ics", event_ics(u))
    cb = getctag(alice, b)
    r = move(alice, a + "u.ics", b + "u.ics")
    el = assert_dav_error(r, CAL, "no-uid-conflict")
    assert [norm_href(h.text) for h in el.iter(q(DAV, "href"))] == [b + "other-name.ics"]
    assert req(alice, "GET", a + "u.ics").status_code == 200
    assert req(alice, "GET", b + "u.ics").status_code == 404
    assert getctag(alice, b) == cb


def test_move_vtodo_into_vevent_only_calendar(alice):
    a = new_calendar(alice)
    b = new_calendar(alice, mkcalendar_body("events only", comps=["VEVENT"]))
    put_ok(alice, a + "t.ics", vcal(vtodo(uid(), "20240610T100000Z")))
    r = move(alice, a + "t.ics", b + "t.ics")
    assert_dav_error(r, CAL, "supported-calendar-component")
    assert req(alice, "GET", a + "t.ics").status_code == 200


def test_move_missing_source_is_404(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    assert move(alice, a + "none.ics", b + "none.ics").status_code == 404


def test_move_without_destination_is_400(alice):
    a = new_calendar(alice)
    put_ok(alice, a + "d.ics", event_ics())
    assert req(alice, "MOVE", a + "d.ics").status_code == 400
    assert req(alice, "GET", a + "d.ics").status_code == 200


def test_move_into_missing_collection_is_409(alice):
    a = new_calendar(alice)
    put_ok(alice, a + "z.ics", event_ics())
    r = move(alice, a + "z.ics", home(alice) + "no-such-cal-xyz/z.ics")
    assert r.status_code == 409
    assert req(alice, "GET", a + "z.ics").status_code == 200


def test_move_to_other_users_calendar_is_403(alice, bob):
    req(bob, "PROPFIND", "/", None, {"Depth": "0"})
    a = new_calendar(alice)
    put_ok(alice, a + "steal.ics", event_ics())
    r = move(alice, a + "steal.ics", "/calendars/bob/visits/steal.ics")
    assert r.status_code == 403
    assert req(alice, "GET", a + "steal.ics").status_code == 200
    assert req(bob, "GET", "/calendars/bob/visits/steal.ics").status_code == 404


def test_copy_event_to_other_calendar(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    ics = event_ics(summary="copied")
    put_ok(alice, a + "c.ics", ics)
    r = move(alice, a + "c.ics", b + "c.ics", method="COPY")
    assert r.status_code == 201
    assert req(alice, "GET", a + "c.ics").content == ics.encode()
    assert req(alice, "GET", b + "c.ics").content == ics.encode()
    assert req(alice, "GET", a + "c.ics").headers["ETag"] == req(alice, "GET", b + "c.ics").headers["ETag"]


def test_copy_within_calendar_is_uid_conflict(alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "orig.ics", event_ics())
    r = move(alice, cal + "orig.ics", cal + "dup.ics", method="COPY")
    assert_dav_error(r, CAL, "no-uid-conflict")
    assert req(alice, "GET", cal + "dup.ics").status_code == 404


def test_copy_overwrite_false_is_412(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "o.ics", event_ics(summary="src"))
    put_ok(alice, b + "o.ics", event_ics(summary="dst"))
    r = move(alice, a + "o.ics", b + "o.ics", overwrite="F", method="COPY")
    assert r.status_code == 412
    assert "SUMMARY:dst" in unfold(req(alice, "GET", b + "o.ics").text)


def test_move_calendar_collection_keeps_events(alice):
    a = new_calendar(alice, mkcalendar_body("Wandering"))
    put_ok(alice, a + "1.ics", event_ics(summary="one"))
    put_ok(alice, a + "2.ics", event_ics(summary="two"))
    dst = home(alice) + "moved-" + uid()[:8] + "/"
    r = move(alice, a, dst)
    assert r.status_code == 201, r.text
    assert propfind(alice, a, [q(DAV, "resourcetype")]).status_code == 404
    ms = propfind_ms(alice, dst, [q(DAV, "getetag"), q(DAV, "displayname"),
                                  q(DAV, "resourcetype")], depth="1")
    assert ms.hrefs() == {dst, dst + "1.ics", dst + "2.ics"}
    assert ms.get(dst).text(q(DAV, "displayname")) == "Wandering"
    assert ms.get(dst).prop(q(DAV, "resourcetype")).find(q(CAL, "calendar")) is not None
    assert "SUMMARY:two" in unfold(req(alice, "GET", dst + "2.ics").text)


def test_move_calendar_onto_existing_calendar_without_overwrite_is_412(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "1.ics", event_ics())
    assert move(alice, a, b, overwrite="F").status_code == 412
    assert req(alice, "GET", a + "1.ics").status_code == 200


def test_sync_shows_move_on_both_calendars(alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "s.ics", event_ics())
    ta, tb = sync(alice, a, "").sync_token, sync(alice, b, "").sync_token
    assert move(alice, a + "s.ics", b + "s.ics").status_code == 201
    ra = sync(alice, a, ta)
    gone = ra.get(a + "s.ics")
    assert gone.status == 404 and gone.propstats == []
    assert ra.hrefs() == {a + "s.ics"}
    rb = sync(alice, b, tb)
    assert rb.hrefs() == {b + "s.ics"}
    came = rb.get(b + "s.ics")
    assert came.text(q(DAV, "getetag")) == req(alice, "GET", b + "s.ics").headers["ETag"]


def test_move_to_another_server_is_502(alice):
    # RFC 4918 9.9.4: a destination on another server is 502 (Bad Gateway);
    # it must never be taken as a local path
    a = new_calendar(alice)
    put_ok(alice, a + "far.ics", event_ics())
    r = req(alice, "MOVE", a + "far.ics",
            headers={"Destination": "http://calendar.example.net:8443" + a + "moved.ics"})
    assert r.status_code == 502, r.status_code
    assert req(alice, "GET", a + "far.ics").status_code == 200
    assert req(alice, "GET", a + "moved.ics").status_code == 404


def test_copy_to_another_server_is_502(alice):
    a = new_calendar(alice)
    put_ok(alice, a + "far.ics", event_ics())
    r = req(alice, "COPY", a + "far.ics",
            headers={"Destination": "http://calendar.example.net" + a + "copy.ics"})
    assert r.status_code == 502, r.status_code
    assert req(alice, "GET", a + "copy.ics").status_code == 404


def test_move_onto_itself_is_403(alice):
    # RFC 4918 9.9.4: 403 when source and destination are the same
    a = new_calendar(alice)
    put_ok(alice, a + "self.ics", event_ics())
    assert move(alice, a + "self.ics", a + "self.ics").status_code == 403
    assert req(alice, "GET", a + "self.ics").status_code == 200


def test_move_collection_into_itself_is_refused(alice):
    a = new_calendar(alice)
    r = move(alice, a, a + "inner/")
    assert r.status_code in (403, 409), r.status_code
    assert propfind(alice, a, [q(DAV, "resourcetype")]).status_code == 207


def test_copy_calendar_collection(alice):
    a = new_calendar(alice, mkcalendar_body("Original"))
    put_ok(alice, a + "1.ics", event_ics(summary="one"))
    dst = home(alice) + "copy-" + uid()[:8] + "/"
    r = move(alice, a, dst, method="COPY")
    assert r.status_code == 201, r.text
    ms = propfind_ms(alice, dst, [q(DAV, "displayname"), q(DAV, "resourcetype")], depth="1")
    assert ms.hrefs() == {dst, dst + "1.ics"}
    assert ms.get(dst).prop(q(DAV, "resourcetype")).find(q(CAL, "calendar")) is not None
    assert req(alice, "GET", a + "1.ics").status_code == 200
    # the copy is independent: changes to it do not touch the original
    assert req(alice, "DELETE", dst + "1.ics").status_code == 204
    assert req(alice, "GET", a + "1.ics").status_code == 200
