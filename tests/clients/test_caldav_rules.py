"""python3-caldav (caldav.DAVClient) as a client of the visit rules
(issue 3): a rejected visit is an error for the library, nothing is
stored, and a flagged visit read back carries the "[CONFLICT] " marker in
its SUMMARY.  caldav 0.11's DAVClient.request raises
caldav.error.AuthorizationError (reason "Forbidden") for every 403, before
save() could raise PutError; the DAV:error body is not shown to the
application.

Owns its servers (rules files from tests/data/rules/), not the conftest's.
"""
import os
import sys

import caldav
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "protocol"))
from rules_helpers import U, ics, new_uid, rules_server  # noqa: E402

PREFIX = "[CONFLICT] "


def visits(srv, user):
    client = caldav.DAVClient(url=srv.url + "/", username=user, password=user + "-pw")
    cals = {c.url.path: c for c in client.principal().calendars()}
    path = "/calendars/%s/visits/" % user
    assert path in cals, "default calendar missing: %s" % sorted(cals)
    return cals[path]


@pytest.fixture
def reject_srv():
    with rules_server("reject") as srv:
        yield srv


@pytest.fixture
def flag_srv():
    with rules_server("flag") as srv:
        yield srv


def test_rejected_visit_is_an_error(reject_srv):
    bob, alice = visits(reject_srv, "bob"), visits(reject_srv, "alice")
    bob.save_event(ics(new_uid("b"), U("03-01 09:00"), U("03-01 10:00"), "Visit ACME"))
    uid = new_uid("a")
    with pytest.raises(caldav.error.AuthorizationError) as exc:
        alice.save_event(ics(uid, U("03-01 13:00"), U("03-01 14:00"), "Visit ACME"))
    assert exc.value.reason == "Forbidden", str(exc.value)
    with pytest.raises(caldav.error.NotFoundError):
        alice.event_by_uid(uid)
    assert alice.events() == []


def test_flagged_visit_read_back_has_the_marker(flag_srv):
    bob, alice = visits(flag_srv, "bob"), visits(flag_srv, "alice")
    buid, auid = new_uid("b"), new_uid("a")
    bob.save_event(ics(buid, U("03-01 09:00"), U("03-01 10:00"), "Visit ACME"))
    alice.save_event(ics(auid, U("03-01 13:00"), U("03-01 14:00"), "Visit ACME"))

    ev = alice.event_by_uid(auid)
    comp = ev.icalendar_instance.walk("VEVENT")[0]
    assert str(comp["SUMMARY"]) == PREFIX + "Visit ACME"
    assert "X-VISIT-CONFLICT" in comp, ev.data
    other = bob.event_by_uid(buid).icalendar_instance.walk("VEVENT")[0]
    assert str(other["SUMMARY"]) == PREFIX + "Visit ACME"

    # The client edits its copy (keeps the marker it received) and saves:
    # still exactly one prefix.
    nl = "\r\n" if "\r\n" in ev.data else "\n"
    ev.data = ev.data.replace("END:VEVENT", "DESCRIPTION:Bring the contract" + nl + "END:VEVENT", 1)
    ev.save()
    comp = alice.event_by_uid(auid).icalendar_instance.walk("VEVENT")[0]
    assert str(comp["DESCRIPTION"]) == "Bring the contract"
    assert str(comp["SUMMARY"]) == PREFIX + "Visit ACME"

    # The other visit goes: the client's next read shows no marker.
    bob.event_by_uid(buid).delete()
    comp = alice.event_by_uid(auid).icalendar_instance.walk("VEVENT")[0]
    assert str(comp["SUMMARY"]) == "Visit ACME"
    assert "X-VISIT-CONFLICT" not in comp
