"""The audit log (issue 2, store): `visitdav --config CFG audit` lists who
changed what and when, with the old and new ETag.  The output format is
the admin command's; these tests only require that one line per change
names the actor, the method, the path and the ETags involved."""
import time

import pytest

from helpers import event_ics, new_calendar, put, put_ok, req, uid


@pytest.fixture(autouse=True)
def needs_local_server(server):
    if server.external:
        pytest.skip("audit needs the admin command on the server's data directory")


def audit_lines(server):
    r = server.admin_cmd("audit")
    return [ln for ln in r.stdout.splitlines() if ln.strip()]


def lines_for(server, path, method):
    return [ln for ln in audit_lines(server) if path in ln and method in ln]


def bare(etag):
    return etag.strip('"')


def wait_for(server, path, method, count=1):
    for _ in range(20):
        got = lines_for(server, path, method)
        if len(got) >= count:
            return got
        time.sleep(0.1)
    return lines_for(server, path, method)


def test_audit_lists_put_create(server, alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "a.ics", event_ics())
    etag = bare(req(alice, "GET", cal + "a.ics").headers["ETag"])
    lines = wait_for(server, cal + "a.ics", "PUT")
    assert len(lines) == 1, lines
    assert "alice" in lines[0] and etag in lines[0], lines[0]


def test_audit_lists_update_with_old_and_new_etag(server, alice):
    cal = new_calendar(alice)
    u = uid()
    put_ok(alice, cal + "b.ics", event_ics(u, summary="one"))
    old = bare(req(alice, "GET", cal + "b.ics").headers["ETag"])
    put_ok(alice, cal + "b.ics", event_ics(u, summary="two"))
    new = bare(req(alice, "GET", cal + "b.ics").headers["ETag"])
    lines = wait_for(server, cal + "b.ics", "PUT", 2)
    assert len(lines) == 2, lines
    upd = [ln for ln in lines if old in ln and new in ln]
    assert len(upd) == 1, lines
    assert upd[0].index(old) < upd[0].index(new), "old etag should come before new: " + upd[0]


def test_audit_lists_delete_with_old_etag(server, alice):
    cal = new_calendar(alice)
    put_ok(alice, cal + "c.ics", event_ics())
    old = bare(req(alice, "GET", cal + "c.ics").headers["ETag"])
    assert req(alice, "DELETE", cal + "c.ics").status_code == 204
    lines = wait_for(server, cal + "c.ics", "DELETE")
    assert len(lines) == 1, lines
    assert "alice" in lines[0] and old in lines[0]


def test_audit_names_the_actor(server, bob):
    put_ok(bob, "/calendars/bob/visits/bob-%s.ics" % uid()[:6], event_ics())
    lines = [ln for ln in audit_lines(server) if "/calendars/bob/visits/bob-" in ln]
    assert lines and all("bob" in ln.replace("/calendars/bob/", "") for ln in lines), lines


def test_audit_lists_move(server, alice):
    a, b = new_calendar(alice), new_calendar(alice)
    put_ok(alice, a + "m.ics", event_ics())
    r = req(alice, "MOVE", a + "m.ics", headers={"Destination": alice.base + b + "m.ics"})
    assert r.status_code == 201
    lines = [ln for ln in audit_lines(server) if "MOVE" in ln]
    assert any(a + "m.ics" in ln or b + "m.ics" in ln for ln in lines), lines


def test_failed_put_is_not_audited(server, alice):
    cal = new_calendar(alice)
    r = put(alice, cal + "bad.ics", "not a calendar")
    assert r.status_code == 403
    assert [ln for ln in audit_lines(server) if cal + "bad.ics" in ln] == []
