"""python3-caldav (caldav 0.11) as bob, alice's teammate with read-masked
on her calendar (tests/data/acl/acl.conf, issue 4): reaching the calendar
by URL (caldav.Calendar(client, url=...)), bob lists alice's visits masked
(time, customer and owner; the confidential one as "Busy"; the private one
not at all) and every attempt to save into it is an error for the library
(caldav 0.11's DAVClient.request raises caldav.error.AuthorizationError on
a 403).  dan (read-free-busy only) gets no event.

Discovering alice's or the team calendar in bob's own home comes with the
team calendars and is not tested here.  Owns its server, not the
conftest's.
"""
import os
import sys

import caldav
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "protocol"))
from acl_helpers import (ALICE_CAL, BUSY, CONF, FULL, MASKED, PRIV, PUB, SEEDED, USERS,  # noqa: E402
                         acl_server, check_view, login, put, scratch_ics, session)
from helpers import req  # noqa: E402

SECRETS = ["desc-secret-4242", "loc-secret-5353", "hans.att6464", "alarm-secret-7575",
           "pubsumm-7731", "confsumm-1212", "privsumm-9191", "Globex", "Initech"]


@pytest.fixture(scope="module")
def srv():
    with acl_server() as s:
        for u in USERS:
            login(session(s, u))
        alice = session(s, "alice")
        for ev in SEEDED:
            assert put(alice, ev.href, ev.text).status_code == 201
        yield s


def alices_calendar(srv, user):
    client = caldav.DAVClient(url=srv.url + "/", username=user, password=USERS[user])
    return caldav.Calendar(client=client, url=srv.url + ALICE_CAL)


def alice_etag(srv, ev):
    r = req(session(srv, "alice"), "GET", ev.href)
    assert r.status_code == 200
    return r.headers["ETag"]


def test_bob_lists_alices_visits_masked(srv):
    events = alices_calendar(srv, "bob").events()
    by_uid = {e.icalendar_component["UID"]: e for e in events}
    assert set(by_uid) == {PUB.uid, CONF.uid}, "bob sees %s" % sorted(by_uid)
    check_view(MASKED, PUB, by_uid[PUB.uid].data, "caldav events() as bob")
    check_view(BUSY, CONF, by_uid[CONF.uid].data, "caldav events() as bob")
    for e in events:
        for s in SECRETS:
            assert s not in e.data, "bob's copy leaks %r:\n%s" % (s, e.data)


def test_bob_cannot_find_the_private_visit(srv):
    cal = alices_calendar(srv, "bob")
    with pytest.raises(caldav.error.NotFoundError):
        cal.event_by_uid(PRIV.uid)
    comp = cal.event_by_uid(PUB.uid).icalendar_component
    assert str(comp["SUMMARY"]) == "Visit: ACME Industrial"
    assert "DESCRIPTION" not in comp and "LOCATION" not in comp and "ATTENDEE" not in comp


def test_bob_cannot_save_a_new_visit(srv):
    cal = alices_calendar(srv, "bob")
    ics = scratch_ics("bob-try-new@acl.test", "bob was here")
    with pytest.raises(caldav.error.AuthorizationError) as exc:
        cal.save_event(ics)
    assert exc.value.reason == "Forbidden", str(exc.value)
    with pytest.raises(caldav.error.NotFoundError):
        alices_calendar(srv, "alice").event_by_uid("bob-try-new@acl.test")


def test_bob_cannot_save_his_masked_copy_back(srv):
    before = alice_etag(srv, PUB)
    ev = alices_calendar(srv, "bob").event_by_uid(PUB.uid)
    nl = "\r\n" if "\r\n" in ev.data else "\n"
    ev.data = ev.data.replace("END:VEVENT", "DESCRIPTION:edited by bob" + nl + "END:VEVENT", 1)
    with pytest.raises(caldav.error.AuthorizationError):
        ev.save()
    assert alice_etag(srv, PUB) == before
    full = alices_calendar(srv, "alice").event_by_uid(PUB.uid)
    check_view(FULL, PUB, full.data, "alice after bob's refused save")


def test_bob_cannot_delete_a_visit(srv):
    ev = alices_calendar(srv, "bob").event_by_uid(PUB.uid)
    with pytest.raises(caldav.error.AuthorizationError):
        ev.delete()
    assert alice_etag(srv, PUB)


def test_dan_gets_no_visit(srv):
    cal = alices_calendar(srv, "dan")
    try:
        events = cal.events()
    except (caldav.error.AuthorizationError, caldav.error.NotFoundError, caldav.error.ReportError):
        return
    assert events == [], "dan (read-free-busy only) gets %s" % [e.data for e in events]
